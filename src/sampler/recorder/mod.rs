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
//!
//! The parts, each in its own file: `probe` (the open-addressing index all
//! tables share), `strings` (the string arena and the proof that a live
//! string is a stored one), `tables` (frames and call-tree nodes),
//! `timeline` (the time-order log), `decode` (the tables as plain data,
//! after sampling).

mod decode;
mod probe;
mod strings;
mod tables;
#[cfg(test)]
mod tests;
mod timeline;

pub use decode::Aggregate;

use crate::ffi::stack::LiveFrame;
use crate::sample::BUILTIN_FILE;
use strings::StringArena;
use tables::{FrameTable, NodeTable, ROOT, UNKNOWN_FRAME};
use timeline::TimeLog;

/// Deepest stack recorded; deeper stacks keep their outermost frames.
pub const MAX_DEPTH: usize = 2048;
const FRAME_CAPACITY: usize = 1 << 14;
const NODE_CAPACITY: usize = 1 << 17;
const STRING_ARENA_BYTES: usize = 4 << 20;
/// Runs the timeline log has room for (16 bytes each; see the module comment).
pub const TIMELINE_CAPACITY: usize = 1 << 22;

/// One level of the last recorded stack (see the module comment).
#[derive(Clone, Copy, Default)]
struct Level {
    /// 0 for a level that is never reused (a built-in leaf).
    code_addr: usize,
    /// The frame table entry, and the node this level ended on.
    frame: u32,
    node: u32,
}

pub struct Recorder {
    frames: FrameTable,
    strings: StringArena,
    nodes: NodeTable,
    /// The last recorded stack, outermost first; `previous_len` levels.
    previous: Box<[Level]>,
    previous_len: usize,
    /// The caller's code generation at the last recorded sample: every
    /// level of the last stack was proven (or reused) in it.
    previous_generation: Option<u64>,
    last_ns: u64,
    /// The profiled thread's CPU clock at the last sample.
    last_cpu_ns: u64,
    last_leaf: u32,
    sample_count: u64,
    overflowed_samples: u64,
    /// The samples in time order (see the module comment).
    timeline: TimeLog,
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
        let mut recorder = Recorder {
            frames: FrameTable::new(frames),
            // Each frame brings at most two new strings.
            strings: StringArena::new(frames * 2, string_bytes),
            nodes: NodeTable::new(nodes),
            // One more level than the deepest stack: a built-in leaf.
            previous: vec![Level::default(); MAX_DEPTH + 1].into_boxed_slice(),
            previous_len: 0,
            previous_generation: None,
            last_ns: start_ns,
            last_cpu_ns: 0,
            last_leaf: ROOT,
            sample_count: 0,
            overflowed_samples: 0,
            timeline: TimeLog::new(timeline_runs),
        };
        let unknown = recorder.frames.store(
            &mut recorder.strings,
            &LiveFrame::owned(b"<unknown>", b"<unknown>"),
            None,
        );
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
        self.strings.begin_sample();
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
            let frame = self
                .frames
                .intern(&mut self.strings, &live, code_generation);
            match self.nodes.child(node, frame) {
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
            let frame = self.frames.intern(&mut self.strings, &leaf, None);
            match self.nodes.child(node, frame) {
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
    #[inline(always)]
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
        self.frames
            .matches(&mut self.strings, previous.frame, live, code_generation)
    }

    fn add_time(&mut self, node: u32, now_ns: u64, cpu_ns: u64, overflowed: bool) {
        let elapsed = now_ns.saturating_sub(self.last_ns);
        self.last_ns = now_ns;
        // A clock that could not be read (0) adds nothing and is not kept.
        let cpu = cpu_ns.saturating_sub(self.last_cpu_ns);
        self.last_cpu_ns = self.last_cpu_ns.max(cpu_ns);
        let entry = &mut self.nodes.nodes[node as usize];
        entry.time_ns += elapsed;
        entry.cpu_ns += cpu;
        entry.samples += 1;
        self.sample_count += 1;
        self.last_leaf = node;
        if overflowed {
            self.overflowed_samples += 1;
        }
        self.timeline.push(node, elapsed);
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
            let leaf = &mut self.nodes.nodes[self.last_leaf as usize];
            leaf.time_ns += elapsed;
            leaf.cpu_ns += cpu;
            self.timeline.extend_last(elapsed);
        }
    }
}
