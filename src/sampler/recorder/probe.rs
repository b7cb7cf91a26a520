//! The open-addressing index every table of the recorder is found through
//! (frames, strings, call-tree nodes), written once: a power-of-two array of
//! slots holding a table id plus one, probed linearly from a hash. It is
//! allocated zeroed before sampling starts, so untouched pages cost nothing,
//! and looking up or filling a slot never allocates (signal safe).

/// An empty slot: slots hold a table id plus one, so that the index can
/// start as zeroed memory.
const EMPTY: u32 = 0;

pub(super) struct Index {
    slots: Box<[u32]>,
}

/// Where a lookup ended.
pub(super) enum Lookup {
    /// The id of the entry that matched.
    Found(u32),
    /// No entry matched; the slot where a new one goes (`Index::fill`).
    Vacant(usize),
    /// Every slot is taken and none matched.
    Full,
}

impl Index {
    /// An index of `slots` slots, a power of two.
    pub(super) fn new(slots: usize) -> Index {
        assert!(slots.is_power_of_two());
        Index {
            slots: vec![EMPTY; slots].into_boxed_slice(),
        }
    }

    /// Probes from `hash` until `is_match` accepts an entry's id or an empty
    /// slot ends the search.
    #[inline]
    pub(super) fn find(&self, hash: u64, mut is_match: impl FnMut(u32) -> bool) -> Lookup {
        let mask = self.slots.len() - 1;
        let mut slot = hash as usize & mask;
        for _ in 0..self.slots.len() {
            let stored = self.slots[slot];
            if stored == EMPTY {
                return Lookup::Vacant(slot);
            }
            if is_match(stored - 1) {
                return Lookup::Found(stored - 1);
            }
            slot = (slot + 1) & mask;
        }
        Lookup::Full
    }

    /// Points a vacant slot (from `find`) at entry `id`.
    #[inline]
    pub(super) fn fill(&mut self, slot: usize, id: u32) {
        self.slots[slot] = id + 1;
    }
}

#[inline]
pub(super) fn fnv(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf29ce484222325;
    for &byte in bytes {
        hash ^= byte as u64;
        hash = hash.wrapping_mul(0x100000001b3);
    }
    hash
}

/// A cheap integer hash (splitmix64's finaliser) so that aligned pointers
/// spread over the table.
#[inline]
pub(super) fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d049bb133111eb);
    x ^ (x >> 31)
}
