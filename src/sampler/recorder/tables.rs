//! The recorder's two tables, allocated before sampling starts: distinct
//! frames (a code object's identity, proven by its strings; see the
//! recorder's module comment) and the call tree's nodes (a frame under a
//! parent node), each found through an open-addressing `Index`. Adding to a
//! full table fails softly (`None`, or the unknown frame); nothing here
//! allocates once the tables exist. Signal safe.

use super::probe::{fnv, mix, Index, Lookup};
use super::strings::StringArena;
use crate::ffi::stack::LiveFrame;

/// Frame 0 stands for frames that did not fit in the frame table.
pub(super) const UNKNOWN_FRAME: u32 = 0;
/// Node 0 is the root, above every outermost frame.
pub(super) const ROOT: u32 = 0;

#[derive(Clone, Copy)]
pub(super) struct FrameEntry {
    code_addr: usize,
    pub(super) first_line: i32,
    pub(super) name: u32,
    pub(super) file: u32,
    /// The str objects the name and file were last proven equal to the
    /// stored ones in, and the caller's code generation then.
    name_object: usize,
    file_object: usize,
    generation: Option<u64>,
    /// See `FrameId::hide_from_traceback`.
    pub(super) hide_from_traceback: bool,
}

pub(super) struct FrameTable {
    /// Append-only, with a fixed capacity reserved up front: pushing never
    /// reallocates, and untouched capacity costs no memory.
    pub(super) entries: Vec<FrameEntry>,
    capacity: usize,
    index: Index,
}

impl FrameTable {
    /// Room for `frames` distinct frames (a power of two).
    pub(super) fn new(frames: usize) -> FrameTable {
        FrameTable {
            entries: Vec::with_capacity(frames),
            capacity: frames,
            index: Index::new(frames * 2),
        }
    }

    /// The id of the entry for this frame, adding one if new (the unknown
    /// frame when the table or the arena is full). An entry proven in the
    /// current code generation (no code object freed since) matches on
    /// addresses alone; any other is proven by its strings.
    #[inline]
    pub(super) fn intern(
        &mut self,
        strings: &mut StringArena,
        live: &LiveFrame<'_>,
        code_generation: Option<u64>,
    ) -> u32 {
        let hash = if live.code_addr != 0 {
            mix(live.code_addr as u64)
        } else {
            mix(fnv(live.name.read().bytes))
        };
        let entries = &mut self.entries;
        match self.index.find(hash, |id| {
            matches(&mut entries[id as usize], strings, live, code_generation)
        }) {
            Lookup::Found(id) => id,
            Lookup::Full => UNKNOWN_FRAME,
            Lookup::Vacant(slot) => match self.store(strings, live, code_generation) {
                Some(id) => {
                    self.index.fill(slot, id);
                    id
                }
                None => UNKNOWN_FRAME,
            },
        }
    }

    /// Whether entry `id` is `live` (see `matches`).
    #[inline]
    pub(super) fn matches(
        &mut self,
        strings: &mut StringArena,
        id: u32,
        live: &LiveFrame<'_>,
        code_generation: Option<u64>,
    ) -> bool {
        matches(
            &mut self.entries[id as usize],
            strings,
            live,
            code_generation,
        )
    }

    /// Adds an entry (without indexing it): `None` if the table or the
    /// string arena is full.
    pub(super) fn store(
        &mut self,
        strings: &mut StringArena,
        live: &LiveFrame<'_>,
        code_generation: Option<u64>,
    ) -> Option<u32> {
        if self.entries.len() == self.capacity {
            return None;
        }
        let name = strings.intern(live.name.read())?;
        let file = strings.intern(live.file.read())?;
        let id = self.entries.len();
        self.entries.push(FrameEntry {
            code_addr: live.code_addr,
            first_line: live.first_line,
            name,
            file,
            name_object: live.name.identity(),
            file_object: live.file.identity(),
            generation: code_generation,
            hide_from_traceback: live.hides_from_traceback(),
        });
        Some(id as u32)
    }
}

/// Whether `entry` is `live`: same code address and line, and either
/// proven in the current code generation with the same str objects (no
/// code object freed since: the same code object), or its strings proven
/// equal now (which moves the entry's hints here).
#[inline]
fn matches(
    entry: &mut FrameEntry,
    strings: &mut StringArena,
    live: &LiveFrame<'_>,
    code_generation: Option<u64>,
) -> bool {
    if entry.code_addr != live.code_addr || entry.first_line != live.first_line {
        return false;
    }
    let (name, file) = (live.name.identity(), live.file.identity());
    if code_generation.is_some()
        && entry.generation == code_generation
        && entry.name_object == name
        && entry.file_object == file
    {
        return true;
    }
    if !strings.compare(live.name, entry.name, entry.name_object)
        || !strings.compare(live.file, entry.file, entry.file_object)
    {
        return false;
    }
    entry.name_object = name;
    entry.file_object = file;
    entry.generation = code_generation;
    true
}

#[derive(Clone, Copy, Default)]
pub(super) struct Node {
    pub(super) parent: u32,
    pub(super) frame: u32,
    pub(super) time_ns: u64,
    /// The profiled thread's CPU time over the same samples.
    pub(super) cpu_ns: u64,
    pub(super) samples: u64,
}

/// The call tree: each node a frame under its parent node.
pub(super) struct NodeTable {
    /// Append-only like `FrameTable::entries`; node 0 is the root.
    pub(super) nodes: Vec<Node>,
    capacity: usize,
    index: Index,
}

impl NodeTable {
    /// Room for `nodes` nodes (a power of two), the root included.
    pub(super) fn new(nodes: usize) -> NodeTable {
        let mut table = NodeTable {
            nodes: Vec::with_capacity(nodes),
            capacity: nodes,
            index: Index::new(nodes * 2),
        };
        table.nodes.push(Node::default()); // the root
        table
    }

    /// The node of `frame` under `parent`, adding it if new (`None` when the
    /// table is full).
    #[inline]
    pub(super) fn child(&mut self, parent: u32, frame: u32) -> Option<u32> {
        let hash = mix(((parent as u64) << 32) | frame as u64);
        let nodes = &self.nodes;
        match self.index.find(hash, |id| {
            let node = &nodes[id as usize];
            node.parent == parent && node.frame == frame
        }) {
            Lookup::Found(id) => Some(id),
            Lookup::Full => None,
            Lookup::Vacant(slot) => {
                if self.nodes.len() == self.capacity {
                    return None;
                }
                let id = self.nodes.len() as u32;
                self.nodes.push(Node {
                    parent,
                    frame,
                    time_ns: 0,
                    cpu_ns: 0,
                    samples: 0,
                });
                self.index.fill(slot, id);
                Some(id)
            }
        }
    }
}
