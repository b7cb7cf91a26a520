//! The recorder's string arena: every distinct name and file stored once,
//! by content, in one byte buffer allocated before sampling starts, and the
//! proof that a live str object equals a stored string (the cheap ways
//! first; see the recorder's module comment). Signal safe: nothing here
//! allocates once the arena exists.

use super::probe::{fnv, mix, Index, Lookup};
use crate::ffi::stack::{LiveStr, StrView};

/// Longest name or file kept, in bytes of code units.
const MAX_STRING_BYTES: usize = 4096;
/// Slots of the per-sample memo of strings already compared (a power of two).
const MEMO_SLOTS: usize = 128;
/// CPython's "no hash computed yet".
const NO_HASH: isize = -1;

/// A distinct string, stored once.
#[derive(Clone, Copy)]
struct StoredStr {
    offset: u32,
    len: u32,
    kind: u8,
    /// CPython's hash of this content, once a live string with this content
    /// was seen carrying one; else `NO_HASH`.
    py_hash: isize,
}

/// A str object already proven equal to `string` during sample `sample`.
#[derive(Clone, Copy, Default)]
struct MemoEntry {
    sample: u64,
    object: usize,
    string: u32,
}

pub(super) struct StringArena {
    bytes: Box<[u8]>,
    bytes_used: usize,
    /// Append-only, with a fixed capacity reserved up front: pushing never
    /// reallocates, and untouched capacity costs no memory.
    strings: Vec<StoredStr>,
    index: Index,
    memo: [MemoEntry; MEMO_SLOTS],
    /// Stamps memo entries; bumped at each sample, so the memo empties
    /// without being cleared.
    sample_serial: u64,
}

impl StringArena {
    /// Room for `strings` distinct strings (a power of two) of
    /// `string_bytes` bytes in all.
    pub(super) fn new(strings: usize, string_bytes: usize) -> StringArena {
        StringArena {
            bytes: vec![0u8; string_bytes].into_boxed_slice(),
            bytes_used: 0,
            strings: Vec::with_capacity(strings),
            index: Index::new(strings * 2),
            memo: [MemoEntry::default(); MEMO_SLOTS],
            sample_serial: 0,
        }
    }

    /// Starts a new sample: what the previous one proved is forgotten
    /// (its str objects may have been freed since).
    #[inline]
    pub(super) fn begin_sample(&mut self) {
        self.sample_serial += 1;
    }

    /// Compares a live string with stored string `string`, last proven
    /// equal to the str object at `hint_object` (see the recorder's module
    /// comment).
    #[inline]
    pub(super) fn compare(&mut self, live: LiveStr, string: u32, hint_object: usize) -> bool {
        let object = live.identity();
        let memo_slot = ((object >> 4) ^ (object >> 11)) & (MEMO_SLOTS - 1);
        if object != 0 {
            let memo = self.memo[memo_slot];
            if memo.sample == self.sample_serial && memo.object == object {
                return memo.string == string;
            }
        }
        let stored = self.strings[string as usize];
        let view = live.read();
        let live_bytes = clamp(view);
        if stored.kind != view.kind || stored.len as usize != live_bytes.len() {
            return false;
        }
        let known = view.hash != NO_HASH && view.hash == stored.py_hash && object == hint_object;
        if !known {
            if self.stored_bytes(stored) != live_bytes {
                return false;
            }
            if view.hash != NO_HASH {
                self.strings[string as usize].py_hash = view.hash;
            }
        }
        if object != 0 {
            self.memo[memo_slot] = MemoEntry {
                sample: self.sample_serial,
                object,
                string,
            };
        }
        true
    }

    /// The id of the stored string with `live`'s content, storing it if new
    /// (`None` when the arena is full).
    pub(super) fn intern(&mut self, live: StrView) -> Option<u32> {
        let live_bytes = clamp(live);
        let hash = mix(fnv(live_bytes) ^ live.kind as u64);
        let slot = match self.index.find(hash, |id| {
            let entry = self.strings[id as usize];
            entry.kind == live.kind
                && &self.bytes[entry.offset as usize..][..entry.len as usize] == live_bytes
        }) {
            Lookup::Found(id) => return Some(id),
            Lookup::Full => return None,
            Lookup::Vacant(slot) => slot,
        };
        if self.strings.len() == self.strings.capacity()
            || self.bytes_used + live_bytes.len() > self.bytes.len()
        {
            return None;
        }
        let offset = self.bytes_used;
        self.bytes[offset..offset + live_bytes.len()].copy_from_slice(live_bytes);
        self.bytes_used += live_bytes.len();
        let id = self.strings.len() as u32;
        self.strings.push(StoredStr {
            offset: offset as u32,
            len: live_bytes.len() as u32,
            kind: live.kind,
            py_hash: live.hash,
        });
        self.index.fill(slot, id);
        Some(id)
    }

    /// Stored string `string` as text (after sampling).
    pub(super) fn decode(&self, string: u32) -> String {
        let stored = self.strings[string as usize];
        crate::ffi::frames::decode(stored.kind, self.stored_bytes(stored))
    }

    fn stored_bytes(&self, stored: StoredStr) -> &[u8] {
        &self.bytes[stored.offset as usize..][..stored.len as usize]
    }
}

/// The part of a live string that is stored: at most `MAX_STRING_BYTES`,
/// in whole code units.
#[inline]
fn clamp<'a>(live: StrView<'a>) -> &'a [u8] {
    let unit = live.kind.max(1) as usize;
    let mut len = live.bytes.len().min(MAX_STRING_BYTES);
    len -= len % unit;
    &live.bytes[..len]
}
