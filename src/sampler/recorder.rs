//! Aggregates samples as they arrive, into fixed-size tables allocated before
//! sampling starts, so that `record` can run inside a signal handler: it never
//! allocates, locks or fails. Memory grows with the number of distinct frames
//! and stacks (pages of the tables are only touched as they fill), never with
//! run time. When a table is full, samples still count: their time goes to
//! the deepest part of the stack that fits, and the overflow is reported.
//!
//! Code object lifetime: a frame's name and file are copied out of the live
//! code object the first time it is seen, inside the sample that saw it. A
//! later sample matches a table entry only if the code address and first
//! line are equal and the name and file strings live on the stack right now
//! are proven equal to the stored ones, so a code object freed and replaced
//! by another at the same address can never be reported under the old one's
//! name, and nothing is read from a code object after the sample that found
//! it on the stack.
//!
//! Reading those strings is the expensive part of a sample (it touches
//! memory the interpreter has long evicted from the caches), so a frame is
//! matched the cheapest way that is sound:
//! - if no code object was freed since the entry was proven (the caller's
//!   `code_generation` is unchanged), the code object at that address is
//!   the same object, and so are its name and file: nothing is read;
//! - else each string is proven, in this order: the same str object was
//!   already proven earlier in this sample (every object of one sample is
//!   alive at once; file names are shared by all the frames of a module);
//!   the live str object sits where the entry's last proven one did and its
//!   cached CPython hash and length equal the stored string's (names are
//!   interned, so most carry one): equal but for a 64-bit hash collision at
//!   a reused address; otherwise, the bytes are compared.
//!
//! Stored strings are deduplicated by content, so "same content" is "same
//! string id".
//!
//! Most of a stack is the same from one sample to the next, so the last
//! recorded stack is kept as one small array of (code address, frame, node)
//! read front to back: while no code object is freed, a level with the same
//! code address as last time takes its node from there without touching
//! the frame and node tables.
//!
//! Time order: beside the tables, a log of the samples in the order they
//! were taken, run-length encoded: one entry (leaf node, sample count, time)
//! per run of consecutive samples that ended on the same node, so a program
//! that stays in one function costs one entry however long it stays. The
//! log's storage is reserved up front like the tables' (`Vec::with_capacity`
//! of `TIMELINE_CAPACITY` runs, 64 MiB of address space): pushing never
//! reallocates, and only the pages written are ever resident, so a short
//! run pays for its few runs and nothing else, and no refill from outside
//! the handler is needed. The worst case, every sample a new run, is 16
//! bytes a sample: 0.9 MiB a minute at 1 ms, 55 MiB an hour; a full log
//! holds 70 minutes of such samples. Should it fill, later samples still
//! count in the tables, are counted as left out of the log, and the session
//! says so (`Aggregate::unlogged_samples`); the log never reorders or drops
//! anything silently.

use crate::ffi::stack::{LiveFrame, LiveStr, StrView};
use crate::sample::{FrameId, StackRecord, TimelineRun, BUILTIN_FILE};
use std::collections::HashMap;

/// Deepest stack recorded; deeper stacks keep their outermost frames.
pub const MAX_DEPTH: usize = 2048;
const FRAME_CAPACITY: usize = 1 << 14;
const NODE_CAPACITY: usize = 1 << 17;
const STRING_ARENA_BYTES: usize = 4 << 20;
/// Runs the timeline log has room for (16 bytes each; see the module comment).
pub const TIMELINE_CAPACITY: usize = 1 << 22;
/// Longest name or file kept, in bytes of code units.
const MAX_STRING_BYTES: usize = 4096;
/// An empty slot of an index table; slots hold a table id plus one, so
/// that the tables can start as zeroed memory that costs nothing until used.
const EMPTY: u32 = 0;
/// Frame 0 stands for frames that did not fit in the frame table.
const UNKNOWN_FRAME: u32 = 0;
const ROOT: u32 = 0;
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

#[derive(Clone, Copy)]
struct FrameEntry {
    code_addr: usize,
    first_line: i32,
    name: u32,
    file: u32,
    /// The str objects the name and file were last proven equal to the
    /// stored ones in, and the caller's code generation then.
    name_object: usize,
    file_object: usize,
    generation: Option<u64>,
    /// See `FrameId::hide_from_traceback`.
    hide_from_traceback: bool,
}

#[derive(Clone, Copy, Default)]
struct Node {
    parent: u32,
    frame: u32,
    time_ns: u64,
    /// The profiled thread's CPU time over the same samples.
    cpu_ns: u64,
    samples: u64,
}

/// One entry of the timeline log: `samples` consecutive samples ended on
/// `node`, and stood for `time_ns`.
#[derive(Clone, Copy)]
struct LoggedRun {
    node: u32,
    samples: u32,
    time_ns: u64,
}

/// One level of the last recorded stack (see the module comment).
#[derive(Clone, Copy, Default)]
struct Level {
    /// 0 for a level that is never reused (a built-in leaf).
    code_addr: usize,
    /// The frame table entry, and the node this level ended on.
    frame: u32,
    node: u32,
}

/// A str object already proven equal to `string` during sample `sample`.
#[derive(Clone, Copy, Default)]
struct MemoEntry {
    sample: u64,
    object: usize,
    string: u32,
}

pub struct Recorder {
    frame_capacity: usize,
    node_capacity: usize,
    /// Append-only, with a fixed capacity reserved up front: pushing never
    /// reallocates, and untouched capacity costs no memory.
    frames: Vec<FrameEntry>,
    frame_index: Box<[u32]>,
    bytes: Box<[u8]>,
    bytes_used: usize,
    /// Append-only like `frames`.
    strings: Vec<StoredStr>,
    string_index: Box<[u32]>,
    /// Append-only like `frames`.
    nodes: Vec<Node>,
    node_index: Box<[u32]>,
    /// The last recorded stack, outermost first; `previous_len` levels.
    previous: Box<[Level]>,
    previous_len: usize,
    /// The caller's code generation at the last recorded sample: every
    /// level of the last stack was proven (or reused) in it.
    previous_generation: Option<u64>,
    memo: [MemoEntry; MEMO_SLOTS],
    /// Stamps memo entries; bumped at each sample, so the memo empties
    /// without being cleared.
    sample_serial: u64,
    last_ns: u64,
    /// The profiled thread's CPU clock at the last sample.
    last_cpu_ns: u64,
    last_leaf: u32,
    sample_count: u64,
    overflowed_samples: u64,
    /// The samples in time order; its capacity, reserved up front, is never
    /// exceeded (see the module comment).
    timeline: Vec<LoggedRun>,
    /// Samples (and their time) that came after the log was full: in the
    /// tables, not in the log. Once non-zero, nothing more is logged, so
    /// the log stays an exact prefix of the samples.
    unlogged_samples: u64,
    unlogged_ns: u64,
}

/// What a recorder holds once sampling has stopped, decoded into plain data.
pub struct Aggregate {
    pub frames: Vec<FrameId>,
    pub stacks: Vec<StackRecord>,
    /// CPU seconds of the profiled thread per stack, parallel to `stacks`.
    pub stack_cpu_times: Vec<f64>,
    pub sample_count: u64,
    pub overflowed_samples: u64,
    /// The samples in time order, as runs referring to `stacks`: all of
    /// them, unless `unlogged_samples` says the log filled up, in which
    /// case the first ones.
    pub timeline: Vec<TimelineRun>,
    /// Samples, and their seconds, left out of `timeline` because it was full.
    pub unlogged_samples: u64,
    pub unlogged_time: f64,
}

impl Recorder {
    /// Allocates every table up front (zeroed, so untouched pages cost no
    /// memory). `start_ns` is when profiling started, `start_cpu_ns` the
    /// profiled thread's CPU clock then.
    pub fn new(start_ns: u64, start_cpu_ns: u64) -> Recorder {
        let mut recorder = Recorder::with_capacity(
            start_ns,
            FRAME_CAPACITY,
            NODE_CAPACITY,
            STRING_ARENA_BYTES,
            TIMELINE_CAPACITY,
        );
        recorder.last_cpu_ns = start_cpu_ns;
        recorder
    }

    /// A recorder for one of many threads (`--all-threads`): a quarter of
    /// [`Recorder::new`]'s tables and a sixteenth of its time-order log, so
    /// that a pool of threads costs a few MiB each; what does not fit is
    /// counted and reported as for the main thread. Its clocks start at
    /// [`Recorder::restart_clocks`].
    pub fn for_thread() -> Recorder {
        Recorder::with_capacity(
            0,
            FRAME_CAPACITY / 4,
            NODE_CAPACITY / 4,
            STRING_ARENA_BYTES / 4,
            TIMELINE_CAPACITY / 16,
        )
    }

    /// Sets when the recorded thread's time starts (monotonic ns) and its
    /// CPU clock then. Signal safe (no allocation).
    pub fn restart_clocks(&mut self, start_ns: u64, start_cpu_ns: u64) {
        self.last_ns = start_ns;
        self.last_cpu_ns = start_cpu_ns;
    }

    /// A recorder with room for `frames` distinct frames, `nodes` distinct
    /// stack prefixes, `string_bytes` of names and `timeline_runs` runs of
    /// the time-order log; `frames` and `nodes` are powers of two.
    pub fn with_capacity(
        start_ns: u64,
        frames: usize,
        nodes: usize,
        string_bytes: usize,
        timeline_runs: usize,
    ) -> Recorder {
        assert!(frames.is_power_of_two() && nodes.is_power_of_two());
        // Address space only (see the module comment); where even that is
        // refused, a log with no room: every sample is then counted as left
        // out of it, and the session says so.
        let mut timeline = Vec::new();
        let _ = timeline.try_reserve_exact(timeline_runs);
        let mut recorder = Recorder {
            frame_capacity: frames,
            node_capacity: nodes,
            frames: Vec::with_capacity(frames),
            frame_index: vec![EMPTY; frames * 2].into_boxed_slice(),
            bytes: vec![0u8; string_bytes].into_boxed_slice(),
            bytes_used: 0,
            // Each frame brings at most two new strings.
            strings: Vec::with_capacity(frames * 2),
            string_index: vec![EMPTY; frames * 4].into_boxed_slice(),
            nodes: Vec::with_capacity(nodes),
            node_index: vec![EMPTY; nodes * 2].into_boxed_slice(),
            // One more level than the deepest stack: a built-in leaf.
            previous: vec![Level::default(); MAX_DEPTH + 1].into_boxed_slice(),
            previous_len: 0,
            previous_generation: None,
            memo: [MemoEntry::default(); MEMO_SLOTS],
            sample_serial: 0,
            last_ns: start_ns,
            last_cpu_ns: 0,
            last_leaf: ROOT,
            sample_count: 0,
            overflowed_samples: 0,
            timeline,
            unlogged_samples: 0,
            unlogged_ns: 0,
        };
        recorder.nodes.push(Node::default()); // the root
        let unknown = recorder.store_frame(&LiveFrame::owned(b"<unknown>", b"<unknown>"), None);
        debug_assert_eq!(unknown, Some(UNKNOWN_FRAME));
        recorder
    }

    /// Records one sample: a stack of `depth` frames, `frame_at(i)` being
    /// the i-th from the outermost, minus its `skip_innermost` innermost
    /// frames, plus an optional C-function leaf, weighted by the time since
    /// the previous sample. The frames' strings are read now (if at all) and
    /// never again. `code_generation` changes whenever a code object is
    /// freed (`None`: unknown). A sample with no Python frame is not
    /// recorded; its time goes to the next one. This function is signal
    /// safe. (Tests that do not care for CPU time; see `record_timed`.)
    #[cfg(test)]
    pub fn record<'a>(
        &mut self,
        depth: usize,
        frame_at: impl Fn(usize) -> LiveFrame<'a>,
        code_generation: Option<u64>,
        skip_innermost: usize,
        builtin_leaf: Option<&[u8]>,
        now_ns: u64,
    ) {
        let cpu_ns = self.last_cpu_ns;
        self.record_timed(
            depth,
            frame_at,
            code_generation,
            skip_innermost,
            builtin_leaf,
            now_ns,
            cpu_ns,
        )
    }

    /// `record`, with `cpu_ns` the profiled thread's CPU clock now: the
    /// sample is also weighted by the CPU time the thread used since the
    /// previous one. Signal safe.
    #[allow(clippy::too_many_arguments)]
    pub fn record_timed<'a>(
        &mut self,
        depth: usize,
        frame_at: impl Fn(usize) -> LiveFrame<'a>,
        code_generation: Option<u64>,
        skip_innermost: usize,
        builtin_leaf: Option<&[u8]>,
        now_ns: u64,
        cpu_ns: u64,
    ) {
        let depth = depth.saturating_sub(skip_innermost).min(MAX_DEPTH);
        if depth == 0 {
            return;
        }
        self.sample_serial += 1;
        let mut node = ROOT;
        let mut overflowed = false;
        let mut same_as_previous = true;
        let mut level = 0;
        while level < depth {
            let live = frame_at(level);
            if same_as_previous
                && level < self.previous_len
                && self.is_previous(level, &live, code_generation)
            {
                node = self.previous[level].node;
                level += 1;
                continue;
            }
            same_as_previous = false;
            let frame = self.intern_frame(&live, code_generation);
            match self.child(node, frame) {
                Some(child) => node = child,
                None => {
                    overflowed = true;
                    break;
                }
            }
            self.previous[level] = Level {
                code_addr: live.code_addr,
                frame,
                node,
            };
            level += 1;
        }
        if let (Some(name), false) = (builtin_leaf, overflowed) {
            let leaf = LiveFrame::owned(name, BUILTIN_FILE.as_bytes());
            let frame = self.intern_frame(&leaf, None);
            match self.child(node, frame) {
                Some(child) => node = child,
                None => overflowed = true,
            }
            // A leaf is never reused as a prefix: it has no str objects.
            if !overflowed {
                self.previous[level] = Level {
                    code_addr: 0,
                    frame,
                    node,
                };
                level += 1;
            }
        }
        self.previous_len = level;
        self.previous_generation = code_generation;
        self.add_time(node, now_ns, cpu_ns, overflowed);
    }

    /// Whether `live` is the frame recorded at `level` of the last stack:
    /// the same code address and either no code object freed since the last
    /// sample (then it is the same code object), or a match for that level's
    /// frame table entry.
    fn is_previous(
        &mut self,
        level: usize,
        live: &LiveFrame<'_>,
        code_generation: Option<u64>,
    ) -> bool {
        let previous = self.previous[level];
        if previous.code_addr == 0 || previous.code_addr != live.code_addr {
            return false;
        }
        if code_generation.is_some() && code_generation == self.previous_generation {
            return true;
        }
        self.matches_entry(previous.frame, live, code_generation)
    }

    fn add_time(&mut self, node: u32, now_ns: u64, cpu_ns: u64, overflowed: bool) {
        let elapsed = now_ns.saturating_sub(self.last_ns);
        self.last_ns = now_ns;
        // A clock that could not be read (0) adds nothing and is not kept.
        let cpu = cpu_ns.saturating_sub(self.last_cpu_ns);
        self.last_cpu_ns = self.last_cpu_ns.max(cpu_ns);
        let entry = &mut self.nodes[node as usize];
        entry.time_ns += elapsed;
        entry.cpu_ns += cpu;
        entry.samples += 1;
        self.sample_count += 1;
        self.last_leaf = node;
        if overflowed {
            self.overflowed_samples += 1;
        }
        self.log(node, elapsed);
    }

    /// Appends a sample to the timeline log: extends the last run if it
    /// ended on the same node, else starts a run, within the capacity
    /// reserved up front (so it never allocates). Signal safe.
    fn log(&mut self, node: u32, elapsed: u64) {
        if self.unlogged_samples == 0 {
            if let Some(last) = self.timeline.last_mut() {
                if last.node == node && last.samples < u32::MAX {
                    last.samples += 1;
                    last.time_ns += elapsed;
                    return;
                }
            }
            if self.timeline.len() < self.timeline.capacity() {
                self.timeline.push(LoggedRun {
                    node,
                    samples: 1,
                    time_ns: elapsed,
                });
                return;
            }
        }
        self.unlogged_samples += 1;
        self.unlogged_ns += elapsed;
    }

    /// Gives the time between the last sample and `end_ns` to the last
    /// stack seen, so the recorded times add up to the profiled wall time;
    /// likewise the CPU time up to `end_cpu_ns` (the profiled thread's CPU
    /// clock at the end).
    pub fn finish(&mut self, end_ns: u64, end_cpu_ns: u64) {
        let elapsed = end_ns.saturating_sub(self.last_ns);
        self.last_ns = end_ns;
        let cpu = end_cpu_ns.saturating_sub(self.last_cpu_ns);
        self.last_cpu_ns = self.last_cpu_ns.max(end_cpu_ns);
        if self.last_leaf != ROOT {
            self.nodes[self.last_leaf as usize].time_ns += elapsed;
            self.nodes[self.last_leaf as usize].cpu_ns += cpu;
            // The last sample is the log's last run unless the log was full.
            match self.timeline.last_mut() {
                Some(last) if self.unlogged_samples == 0 => last.time_ns += elapsed,
                _ => self.unlogged_ns += elapsed,
            }
        }
    }

    /// The id of the frame table entry for this frame, adding one if new.
    /// An entry proven in the current code generation (no code object
    /// freed since) matches on addresses alone; any other is proven by its
    /// strings.
    fn intern_frame(&mut self, live: &LiveFrame<'_>, code_generation: Option<u64>) -> u32 {
        let hash = if live.code_addr != 0 {
            mix(live.code_addr as u64)
        } else {
            mix(fnv(live.name.read().bytes))
        };
        let mask = self.frame_index.len() - 1;
        let mut slot = hash as usize & mask;
        for _ in 0..self.frame_index.len() {
            let stored = self.frame_index[slot];
            if stored == EMPTY {
                let Some(id) = self.store_frame(live, code_generation) else {
                    return UNKNOWN_FRAME;
                };
                self.frame_index[slot] = id + 1;
                return id;
            }
            let id = stored - 1;
            if self.matches_entry(id, live, code_generation) {
                return id;
            }
            slot = (slot + 1) & mask;
        }
        UNKNOWN_FRAME
    }

    /// Whether frame table entry `id` is `live`: same code address and line,
    /// and either proven in the current code generation with the same str
    /// objects (no code object freed since: the same code object), or its
    /// strings proven equal now (which moves the entry's hints here).
    fn matches_entry(
        &mut self,
        id: u32,
        live: &LiveFrame<'_>,
        code_generation: Option<u64>,
    ) -> bool {
        let entry = self.frames[id as usize];
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
        if !self.compare(live.name, entry.name, entry.name_object)
            || !self.compare(live.file, entry.file, entry.file_object)
        {
            return false;
        }
        let entry = &mut self.frames[id as usize];
        entry.name_object = name;
        entry.file_object = file;
        entry.generation = code_generation;
        true
    }

    /// Compares a live string with stored string `string`, last proven
    /// equal to the str object at `hint_object` (see the module comment).
    fn compare(&mut self, live: LiveStr, string: u32, hint_object: usize) -> bool {
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
            if &self.bytes[stored.offset as usize..][..stored.len as usize] != live_bytes {
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

    /// The id of the stored string with `live`'s content, storing it if new.
    fn intern_string(&mut self, live: StrView) -> Option<u32> {
        let live_bytes = clamp(live);
        let mask = self.string_index.len() - 1;
        let mut slot = mix(fnv(live_bytes) ^ live.kind as u64) as usize & mask;
        for _ in 0..self.string_index.len() {
            let stored = self.string_index[slot];
            if stored == EMPTY {
                break;
            }
            let id = stored - 1;
            let entry = self.strings[id as usize];
            if entry.kind == live.kind
                && &self.bytes[entry.offset as usize..][..entry.len as usize] == live_bytes
            {
                return Some(id);
            }
            slot = (slot + 1) & mask;
        }
        if self.string_index[slot] != EMPTY
            || self.strings.len() == self.strings.capacity()
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
        self.string_index[slot] = id + 1;
        Some(id)
    }

    fn store_frame(&mut self, live: &LiveFrame<'_>, code_generation: Option<u64>) -> Option<u32> {
        if self.frames.len() == self.frame_capacity {
            return None;
        }
        let name = self.intern_string(live.name.read())?;
        let file = self.intern_string(live.file.read())?;
        let id = self.frames.len();
        self.frames.push(FrameEntry {
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

    fn child(&mut self, parent: u32, frame: u32) -> Option<u32> {
        let mask = self.node_index.len() - 1;
        let mut slot = mix(((parent as u64) << 32) | frame as u64) as usize & mask;
        for _ in 0..self.node_index.len() {
            let stored = self.node_index[slot];
            if stored == EMPTY {
                if self.nodes.len() == self.node_capacity {
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
                self.node_index[slot] = id + 1;
                return Some(id);
            }
            let id = stored - 1;
            let node = &self.nodes[id as usize];
            if node.parent == parent && node.frame == frame {
                return Some(id);
            }
            slot = (slot + 1) & mask;
        }
        None
    }

    /// Decodes the tables into plain frames and stacks. Frames that turned
    /// out identical (the same function compiled twice) are merged; frames
    /// no recorded stack uses are left out.
    pub fn into_aggregate(mut self) -> Aggregate {
        let mut unique: HashMap<FrameId, u32> = HashMap::new();
        let mut frames: Vec<FrameId> = Vec::new();
        let mut frame_map: Vec<Option<u32>> = vec![None; self.frames.len()];
        let mut map_frame = |table_id: u32| -> u32 {
            if let Some(index) = frame_map[table_id as usize] {
                return index;
            }
            let entry = &self.frames[table_id as usize];
            let id = FrameId {
                function: self.decode(entry.name),
                file: self.decode(entry.file),
                line: entry.first_line.max(0) as u32,
                hide_from_traceback: entry.hide_from_traceback,
            };
            let index = *unique.entry(id.clone()).or_insert_with(|| {
                frames.push(id);
                (frames.len() - 1) as u32
            });
            frame_map[table_id as usize] = Some(index);
            index
        };

        let mut by_path: HashMap<Vec<u32>, usize> = HashMap::new();
        let mut stacks: Vec<StackRecord> = Vec::new();
        let mut stack_cpu_times: Vec<f64> = Vec::new();
        // The stack each node's samples went to, for the timeline.
        let mut node_stack: Vec<u32> = vec![u32::MAX; self.nodes.len()];
        for (id, went_to) in node_stack.iter_mut().enumerate().skip(1) {
            let node = self.nodes[id];
            if node.time_ns == 0 && node.samples == 0 {
                continue;
            }
            let mut path = Vec::new();
            let mut cursor = id as u32;
            while cursor != ROOT {
                let step = self.nodes[cursor as usize];
                path.push(map_frame(step.frame));
                cursor = step.parent;
            }
            path.reverse();
            let time = node.time_ns as f64 / 1e9;
            let cpu = node.cpu_ns as f64 / 1e9;
            match by_path.get(&path) {
                Some(&existing) => {
                    stacks[existing].time += time;
                    stack_cpu_times[existing] += cpu;
                    stacks[existing].samples += node.samples;
                    *went_to = existing as u32;
                }
                None => {
                    *went_to = stacks.len() as u32;
                    by_path.insert(path.clone(), stacks.len());
                    stacks.push(StackRecord {
                        frames: path,
                        time,
                        samples: node.samples,
                    });
                    stack_cpu_times.push(cpu);
                }
            }
        }
        let timeline = std::mem::take(&mut self.timeline);
        Aggregate {
            frames,
            stacks,
            stack_cpu_times,
            sample_count: self.sample_count,
            overflowed_samples: self.overflowed_samples,
            timeline: decode_timeline(timeline, &node_stack),
            unlogged_samples: self.unlogged_samples,
            unlogged_time: self.unlogged_ns as f64 / 1e9,
        }
    }

    fn decode(&self, string: u32) -> String {
        let s = self.strings[string as usize];
        let bytes = &self.bytes[s.offset as usize..][..s.len as usize];
        crate::ffi::frames::decode(s.kind, bytes)
    }
}

/// The log's runs as runs of stacks, in place (both entries are 16 bytes,
/// so the log's memory is reused rather than doubled at the end of a long
/// run). Consecutive runs whose nodes turned out to be one stack (the same
/// function compiled twice) become one.
fn decode_timeline(log: Vec<LoggedRun>, node_stack: &[u32]) -> Vec<TimelineRun> {
    let mut runs: Vec<TimelineRun> = log
        .into_iter()
        .map(|run| TimelineRun {
            stack: node_stack[run.node as usize],
            samples: run.samples,
            time: run.time_ns as f64 / 1e9,
        })
        .collect();
    crate::sample::merge_adjacent_runs(&mut runs);
    runs.shrink_to_fit();
    runs
}

/// The part of a live string that is stored: at most `MAX_STRING_BYTES`,
/// in whole code units.
fn clamp<'a>(live: StrView<'a>) -> &'a [u8] {
    let unit = live.kind.max(1) as usize;
    let mut len = live.bytes.len().min(MAX_STRING_BYTES);
    len -= len % unit;
    &live.bytes[..len]
}

fn fnv(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf29ce484222325;
    for &byte in bytes {
        hash ^= byte as u64;
        hash = hash.wrapping_mul(0x100000001b3);
    }
    hash
}

/// A cheap integer hash (splitmix64's finaliser) so that aligned pointers
/// spread over the table.
fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d049bb133111eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(code_addr: usize, name: &'static str, line: i32) -> LiveFrame<'static> {
        LiveFrame::simulated(
            code_addr,
            line,
            LiveStr::latin1(name.as_bytes()),
            LiveStr::latin1(b"app.py"),
        )
    }

    /// Records a stack given outermost first, as a test reads best. A new
    /// code generation every sample: no level is trusted without proof.
    fn sample(recorder: &mut Recorder, outermost_first: &[LiveFrame<'static>], now_ns: u64) {
        sample_in(recorder, outermost_first, Some(now_ns), now_ns);
    }

    fn sample_in(
        recorder: &mut Recorder,
        outermost_first: &[LiveFrame<'static>],
        code_generation: Option<u64>,
        now_ns: u64,
    ) {
        recorder.record(
            outermost_first.len(),
            |i| outermost_first[i],
            code_generation,
            0,
            None,
            now_ns,
        );
    }

    /// Every stack as its frames' labels, with its sample count, sorted.
    fn stacks_labelled(
        aggregate: &Aggregate,
        label: impl Fn(&FrameId) -> String,
    ) -> Vec<(Vec<String>, u64)> {
        let mut all: Vec<(Vec<String>, u64)> = aggregate
            .stacks
            .iter()
            .map(|s| {
                let labels = s
                    .frames
                    .iter()
                    .map(|&f| label(&aggregate.frames[f as usize]))
                    .collect();
                (labels, s.samples)
            })
            .collect();
        all.sort();
        all
    }

    /// Every stack as its function names, with its sample count, sorted.
    fn stacks_by_name(aggregate: &Aggregate) -> Vec<(Vec<String>, u64)> {
        stacks_labelled(aggregate, |frame| frame.function.clone())
    }

    fn owned(names: &[&str], samples: u64) -> (Vec<String>, u64) {
        (names.iter().map(|s| s.to_string()).collect(), samples)
    }

    fn names(aggregate: &Aggregate, stack: &StackRecord) -> Vec<String> {
        stack
            .frames
            .iter()
            .map(|&f| aggregate.frames[f as usize].function.clone())
            .collect()
    }

    #[test]
    fn identical_stacks_aggregate_and_times_add_up_to_the_wall_time() {
        let mut recorder = Recorder::new(1_000, 0);
        let stack = [frame(0x10, "main", 1), frame(0x20, "work", 5)];
        sample(&mut recorder, &stack, 2_000);
        sample(&mut recorder, &stack, 3_500);
        sample(&mut recorder, &[frame(0x10, "main", 1)], 4_000);
        recorder.finish(4_250, 0);
        let aggregate = recorder.into_aggregate();
        assert_eq!(aggregate.sample_count, 3);
        assert_eq!(aggregate.stacks.len(), 2);
        let work = aggregate
            .stacks
            .iter()
            .find(|s| names(&aggregate, s) == ["main", "work"])
            .unwrap();
        assert_eq!(work.samples, 2);
        assert!((work.time - 2_500e-9).abs() < 1e-15);
        let total: f64 = aggregate.stacks.iter().map(|s| s.time).sum();
        assert!((total - 3_250e-9).abs() < 1e-15, "total {total}");
    }

    #[test]
    fn a_reused_code_address_with_another_name_is_another_frame() {
        let mut recorder = Recorder::new(0, 0);
        sample(&mut recorder, &[frame(0x10, "f1", 1)], 10);
        // The code object was freed and a new one took its address.
        sample(&mut recorder, &[frame(0x10, "f2", 1)], 20);
        sample(&mut recorder, &[frame(0x10, "f1", 2)], 30);
        let aggregate = recorder.into_aggregate();
        let mut seen: Vec<(String, u32)> = aggregate
            .frames
            .iter()
            .map(|f| (f.function.clone(), f.line))
            .collect();
        seen.sort();
        assert_eq!(
            seen,
            [
                ("f1".to_string(), 1),
                ("f1".to_string(), 2),
                ("f2".to_string(), 1)
            ]
        );
    }

    #[test]
    fn the_same_function_compiled_twice_is_merged_into_one_frame() {
        let mut recorder = Recorder::new(0, 0);
        sample(&mut recorder, &[frame(0x10, "f", 1)], 10);
        sample(&mut recorder, &[frame(0x90, "f", 1)], 20);
        let aggregate = recorder.into_aggregate();
        assert_eq!(aggregate.stacks.len(), 1);
        assert_eq!(aggregate.stacks[0].samples, 2);
    }

    #[test]
    fn a_sample_without_python_frames_gives_its_time_to_the_next() {
        let mut recorder = Recorder::new(0, 0);
        sample(&mut recorder, &[], 100);
        sample(&mut recorder, &[frame(0x10, "main", 1)], 300);
        let aggregate = recorder.into_aggregate();
        assert_eq!(aggregate.sample_count, 1);
        assert!((aggregate.stacks[0].time - 300e-9).abs() < 1e-15);
    }

    #[test]
    fn skipped_frames_and_builtin_leaves() {
        let mut recorder = Recorder::new(0, 0);
        let outermost_first = [frame(0x10, "main", 1), frame(0x30, "callee", 9)];
        recorder.record(2, |i| outermost_first[i], Some(1), 1, Some(b"sleep"), 10);
        // The same stack again: the leaf must not be taken for a prefix.
        recorder.record(2, |i| outermost_first[i], Some(1), 1, Some(b"sleep"), 20);
        recorder.record(2, |i| outermost_first[i], Some(1), 0, None, 30);
        let aggregate = recorder.into_aggregate();
        let got = stacks_by_name(&aggregate);
        assert_eq!(
            got,
            vec![owned(&["main", "callee"], 1), owned(&["main", "sleep"], 2)]
        );
        let with_leaf = aggregate.stacks.iter().find(|s| s.samples == 2).unwrap();
        let leaf = &aggregate.frames[*with_leaf.frames.last().unwrap() as usize];
        assert!(leaf.is_builtin());
    }

    #[test]
    fn full_tables_cut_stacks_short_but_keep_their_time() {
        // Room for the root and three stack nodes: a, a>b, a>c.
        let mut recorder = Recorder::with_capacity(0, 16, 4, 1024, 64);
        sample(
            &mut recorder,
            &[frame(0x10, "a", 1), frame(0x20, "b", 1)],
            10,
        );
        sample(
            &mut recorder,
            &[frame(0x10, "a", 1), frame(0x30, "c", 1)],
            20,
        );
        sample(
            &mut recorder,
            &[frame(0x10, "a", 1), frame(0x40, "d", 1)],
            30,
        );
        recorder.finish(40, 0);
        let aggregate = recorder.into_aggregate();
        assert_eq!(aggregate.overflowed_samples, 1);
        let total: f64 = aggregate.stacks.iter().map(|s| s.time).sum();
        assert!((total - 40e-9).abs() < 1e-15);
        assert!(aggregate
            .stacks
            .iter()
            .any(|s| names(&aggregate, s) == ["a"]));
    }

    #[test]
    fn deep_stacks_keep_their_outermost_frames() {
        let mut recorder = Recorder::new(0, 0);
        let deep: Vec<LiveFrame<'static>> = (0..MAX_DEPTH + 50)
            .map(|i| frame(0x1000 + i * 16, "f", i as i32))
            .collect();
        sample(&mut recorder, &deep, 10);
        let aggregate = recorder.into_aggregate();
        let stack = &aggregate.stacks[0];
        assert_eq!(stack.frames.len(), MAX_DEPTH);
        assert_eq!(aggregate.frames[stack.frames[0] as usize].line, 0);
    }

    /// A string as it lives in a Python object: at `address`, with
    /// CPython's cached `hash` (-1: none).
    fn live(text: &'static str, address: usize, hash: isize) -> LiveStr<'static> {
        LiveStr::simulated(text.as_bytes(), address, hash)
    }

    fn live_frame(
        code_addr: usize,
        name: LiveStr<'static>,
        file: LiveStr<'static>,
    ) -> LiveFrame<'static> {
        LiveFrame::simulated(code_addr, 1, name, file)
    }

    /// Every stack as `function@file` labels, with its sample count, sorted.
    fn stack_names(aggregate: &Aggregate) -> Vec<(Vec<String>, u64)> {
        stacks_labelled(aggregate, |frame| {
            format!("{}@{}", frame.function, frame.file)
        })
    }

    #[test]
    fn a_string_at_a_reused_address_is_compared_by_content_unless_its_hash_proves_it() {
        let mut recorder = Recorder::new(0, 0);
        // Sample 1: f (hash 7) in a.py, both at known addresses.
        let first = live_frame(0x10, live("f", 0x100, 7), live("a.py", 0x200, -1));
        sample(&mut recorder, &[first], 10);
        // Same code address, name object and hash: the same frame.
        sample(&mut recorder, &[first], 20);
        // The code object and its file name were freed and replaced at the
        // same addresses by a different file of the same length and no hash:
        // a different frame.
        let replaced = live_frame(0x10, live("f", 0x100, 7), live("b.py", 0x200, -1));
        sample(&mut recorder, &[replaced], 30);
        // A different name at the same address with another hash, and one
        // with the same hash but another length: different frames.
        let other_hash = live_frame(0x10, live("g", 0x100, 8), live("a.py", 0x200, -1));
        sample(&mut recorder, &[other_hash], 40);
        let other_len = live_frame(0x10, live("ff", 0x100, 7), live("a.py", 0x200, -1));
        sample(&mut recorder, &[other_len], 50);
        let aggregate = recorder.into_aggregate();
        let expected: Vec<(Vec<String>, u64)> = vec![
            (vec!["f@a.py".to_string()], 2),
            (vec!["f@b.py".to_string()], 1),
            (vec!["ff@a.py".to_string()], 1),
            (vec!["g@a.py".to_string()], 1),
        ];
        assert_eq!(stack_names(&aggregate), expected);
    }

    #[test]
    fn a_string_proven_in_one_sample_is_not_trusted_in_the_next() {
        let mut recorder = Recorder::new(0, 0);
        // Two functions of one module share the file name object.
        let outer = live_frame(0x10, live("outer", 0x100, 1), live("m.py", 0x300, -1));
        let inner = live_frame(0x20, live("inner", 0x110, 2), live("m.py", 0x300, -1));
        sample(&mut recorder, &[outer, inner], 10);
        // Next sample: the module was freed and another one, with a file
        // name of the same length, took the same addresses.
        let outer2 = live_frame(0x10, live("outer", 0x100, 1), live("n.py", 0x300, -1));
        let inner2 = live_frame(0x20, live("inner", 0x110, 2), live("n.py", 0x300, -1));
        sample(&mut recorder, &[outer2, inner2], 20);
        sample(&mut recorder, &[outer, inner], 30);
        let aggregate = recorder.into_aggregate();
        let expected: Vec<(Vec<String>, u64)> = vec![
            (vec!["outer@m.py".to_string(), "inner@m.py".to_string()], 2),
            (vec!["outer@n.py".to_string(), "inner@n.py".to_string()], 1),
        ];
        assert_eq!(stack_names(&aggregate), expected);
    }

    #[test]
    fn stacks_sharing_a_prefix_with_the_previous_one_land_on_the_right_nodes() {
        let mut recorder = Recorder::new(0, 0);
        let f = |addr, name| frame(addr, name, 1);
        let (a, b, c, d, x) = (
            f(0x10, "a"),
            f(0x20, "b"),
            f(0x30, "c"),
            f(0x40, "d"),
            f(0x50, "x"),
        );
        let sequence: [&[LiveFrame<'static>]; 7] = [
            &[a, b, c],
            &[a, b, d],
            &[a, x, c],
            &[a, b],
            &[a, b, c, d],
            &[a, b, c],
            &[a],
        ];
        for (i, stack) in sequence.iter().enumerate() {
            sample(&mut recorder, stack, (i as u64 + 1) * 10);
        }
        let aggregate = recorder.into_aggregate();
        let got = stacks_by_name(&aggregate);
        assert_eq!(
            got,
            vec![
                owned(&["a"], 1),
                owned(&["a", "b"], 1),
                owned(&["a", "b", "c"], 2),
                owned(&["a", "b", "c", "d"], 1),
                owned(&["a", "b", "d"], 1),
                owned(&["a", "x", "c"], 1),
            ]
        );
    }

    #[test]
    fn frames_are_trusted_only_while_no_code_object_was_freed() {
        let mut recorder = Recorder::new(0, 0);
        let main = live_frame(0x10, live("main", 0x100, 1), live("m.py", 0x300, -1));
        let f = live_frame(0x20, live("f", 0x110, 2), live("a.py", 0x200, -1));
        let g = live_frame(0x30, live("g", 0x120, 3), live("m.py", 0x300, -1));
        // The same level as last time, then a frame found again in the
        // frame table (not the last stack), both in one generation.
        sample_in(&mut recorder, &[main, f], Some(5), 10);
        sample_in(&mut recorder, &[main, f], Some(5), 20);
        sample_in(&mut recorder, &[main, g], Some(5), 30);
        sample_in(&mut recorder, &[main, f], Some(5), 40);
        // A code object was freed (generation 6) and another took 0x20,
        // with a file name of the same length at the same address: proven
        // different, whether it follows the same stack or another one.
        let replaced = live_frame(0x20, live("f", 0x110, 2), live("b.py", 0x200, -1));
        sample_in(&mut recorder, &[main, replaced], Some(6), 50);
        sample_in(&mut recorder, &[main, g], Some(6), 60);
        sample_in(&mut recorder, &[main, replaced], Some(6), 70);
        // Unknown generation: proven again, and the first frame comes back.
        sample_in(&mut recorder, &[main, f], None, 80);
        let aggregate = recorder.into_aggregate();
        let expected: Vec<(Vec<String>, u64)> = vec![
            (vec!["main@m.py".to_string(), "f@a.py".to_string()], 4),
            (vec!["main@m.py".to_string(), "f@b.py".to_string()], 2),
            (vec!["main@m.py".to_string(), "g@m.py".to_string()], 2),
        ];
        assert_eq!(stack_names(&aggregate), expected);
    }

    /// The timeline as (function names of its stack, samples, nanoseconds).
    fn timeline_by_name(aggregate: &Aggregate) -> Vec<(Vec<String>, u32, u64)> {
        aggregate
            .timeline
            .iter()
            .map(|run| {
                let stack = &aggregate.stacks[run.stack as usize];
                (
                    names(aggregate, stack),
                    run.samples,
                    (run.time * 1e9).round() as u64,
                )
            })
            .collect()
    }

    /// Summed per stack, the timeline gives each stack's samples and time.
    fn assert_timeline_adds_up(aggregate: &Aggregate) {
        let mut samples = vec![0u64; aggregate.stacks.len()];
        let mut time = vec![0f64; aggregate.stacks.len()];
        for run in &aggregate.timeline {
            assert!(run.samples >= 1);
            samples[run.stack as usize] += run.samples as u64;
            time[run.stack as usize] += run.time;
        }
        for (i, stack) in aggregate.stacks.iter().enumerate() {
            assert_eq!(samples[i], stack.samples, "stack {i}");
            assert!(
                (time[i] - stack.time).abs() < 1e-12,
                "stack {i}: {} != {}",
                time[i],
                stack.time
            );
        }
    }

    #[test]
    fn the_timeline_keeps_the_order_of_samples_one_run_per_repeat() {
        let mut recorder = Recorder::new(0, 0);
        let (main, f, g) = (
            frame(0x10, "main", 1),
            frame(0x20, "f", 5),
            frame(0x30, "g", 9),
        );
        sample(&mut recorder, &[main, f], 10);
        sample(&mut recorder, &[main, f], 30);
        sample(&mut recorder, &[main, g], 60);
        sample(&mut recorder, &[main], 100);
        sample(&mut recorder, &[main, f], 150);
        recorder.finish(160, 0);
        let aggregate = recorder.into_aggregate();
        assert_eq!(aggregate.unlogged_samples, 0);
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            timeline_by_name(&aggregate),
            vec![
                (s(&["main", "f"]), 2, 30),
                (s(&["main", "g"]), 1, 30),
                (s(&["main"]), 1, 40),
                (s(&["main", "f"]), 1, 60),
            ]
        );
        assert_timeline_adds_up(&aggregate);
    }

    #[test]
    fn runs_of_one_stack_under_two_nodes_become_one_run() {
        // The same function compiled twice: two frame entries, one stack.
        let mut recorder = Recorder::new(0, 0);
        sample(&mut recorder, &[frame(0x10, "f", 1)], 10);
        sample(&mut recorder, &[frame(0x90, "f", 1)], 20);
        sample(&mut recorder, &[frame(0x40, "g", 1)], 30);
        let aggregate = recorder.into_aggregate();
        assert_eq!(aggregate.timeline.len(), 2);
        assert_eq!(aggregate.timeline[0].samples, 2);
        assert_timeline_adds_up(&aggregate);
    }

    #[test]
    fn cut_stacks_and_builtin_leaves_are_logged_like_their_stacks() {
        let mut recorder = Recorder::with_capacity(0, 16, 4, 1024, 64);
        let (a, b, c) = (
            frame(0x10, "a", 1),
            frame(0x20, "b", 1),
            frame(0x30, "c", 1),
        );
        sample(&mut recorder, &[a, b], 10);
        sample(&mut recorder, &[a, c], 20);
        // No room for a>x: cut short to a.
        sample(&mut recorder, &[a, frame(0x40, "x", 1)], 30);
        recorder.record(1, |_| a, Some(1), 0, Some(b"sleep"), 40);
        recorder.finish(45, 0);
        let aggregate = recorder.into_aggregate();
        assert_eq!(aggregate.overflowed_samples, 2);
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            timeline_by_name(&aggregate),
            vec![
                (s(&["a", "b"]), 1, 10),
                (s(&["a", "c"]), 1, 10),
                (s(&["a"]), 2, 25),
            ]
        );
        assert_timeline_adds_up(&aggregate);
    }

    #[test]
    fn a_full_log_never_grows_and_counts_what_it_left_out() {
        let mut recorder = Recorder::with_capacity(0, 16, 16, 1024, 2);
        let storage = (recorder.timeline.as_ptr(), recorder.timeline.capacity());
        assert_eq!(storage.1, 2);
        let (a, b) = (frame(0x10, "a", 1), frame(0x20, "b", 1));
        sample(&mut recorder, &[a], 10);
        sample(&mut recorder, &[b], 20);
        sample(&mut recorder, &[b], 30); // extends the last run: still logged
        sample(&mut recorder, &[a], 40); // no room: left out
        sample(&mut recorder, &[b], 50); // after a gap: left out, not appended
        recorder.finish(55, 0);
        assert_eq!(
            (recorder.timeline.as_ptr(), recorder.timeline.capacity()),
            storage,
            "the log reallocated"
        );
        let aggregate = recorder.into_aggregate();
        assert_eq!(aggregate.timeline.len(), 2);
        assert_eq!(aggregate.timeline[1].samples, 2);
        assert_eq!(aggregate.unlogged_samples, 2);
        assert!((aggregate.unlogged_time - 25e-9).abs() < 1e-15);
        let logged: f64 = aggregate.timeline.iter().map(|r| r.time).sum();
        let total: f64 = aggregate.stacks.iter().map(|s| s.time).sum();
        assert!((logged + aggregate.unlogged_time - total).abs() < 1e-15);
    }

    #[test]
    fn the_default_log_is_reserved_whole_and_sized_for_an_hour_of_distinct_samples() {
        let recorder = Recorder::new(0, 0);
        assert_eq!(recorder.timeline.capacity(), TIMELINE_CAPACITY);
        assert_eq!(std::mem::size_of::<LoggedRun>(), 16);
    }

    // An hour of 1 ms samples, each a new run, fits, and the log's
    // reservation stays within the hour's memory budget.
    const _: () = assert!(TIMELINE_CAPACITY >= 3600 * 1000);
    const _: () = assert!(TIMELINE_CAPACITY * std::mem::size_of::<LoggedRun>() <= 64 << 20);
}
