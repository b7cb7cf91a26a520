//! Aggregates samples as they arrive, into fixed-size tables allocated before
//! sampling starts, so that `record` can run inside a signal handler: it never
//! allocates, locks or fails. Memory grows with the number of distinct frames
//! and stacks (pages of the tables are only touched as they fill), never with
//! run time. When a table is full, samples still count: their time goes to
//! the deepest part of the stack that fits, and the overflow is reported.
//!
//! Code object lifetime: a frame's name and file are copied out of the live
//! code object the first time it is seen, inside the sample that saw it. A
//! later sample matches a table entry only if the code address, first line,
//! name and file bytes are all equal to what is live on the stack right now,
//! so a code object freed and replaced by another at the same address can
//! never be reported under the old one's name, and nothing is read from a
//! code object after the sample that found it on the stack.

use crate::ffi::stack::{LiveFrame, LiveStr};
use crate::sample::{FrameId, StackRecord, BUILTIN_FILE};
use std::collections::HashMap;

/// Deepest stack recorded; deeper stacks keep their outermost frames.
pub const MAX_DEPTH: usize = 2048;
const FRAME_CAPACITY: usize = 1 << 14;
const NODE_CAPACITY: usize = 1 << 17;
const STRING_ARENA_BYTES: usize = 4 << 20;
/// Longest name or file kept, in bytes of code units.
const MAX_STRING_BYTES: usize = 4096;
/// An empty slot of an index table; slots hold a table id plus one, so
/// that the tables can start as zeroed memory that costs nothing until used.
const EMPTY: u32 = 0;
/// Frame 0 stands for frames that did not fit in the frame table.
const UNKNOWN_FRAME: u32 = 0;
const ROOT: u32 = 0;

#[derive(Clone, Copy, Default)]
struct StrRef {
    offset: u32,
    len: u32,
    kind: u8,
}

#[derive(Clone, Copy, Default)]
struct FrameEntry {
    code_addr: usize,
    first_line: i32,
    name: StrRef,
    file: StrRef,
}

#[derive(Clone, Copy, Default)]
struct Node {
    parent: u32,
    frame: u32,
    time_ns: u64,
    samples: u64,
}

pub struct Recorder {
    frame_capacity: usize,
    node_capacity: usize,
    /// Append-only, with a fixed capacity reserved up front: pushing never
    /// reallocates, and untouched capacity costs no memory.
    frames: Vec<FrameEntry>,
    frame_index: Box<[u32]>,
    strings: Box<[u8]>,
    strings_used: usize,
    /// Append-only like `frames`.
    nodes: Vec<Node>,
    node_index: Box<[u32]>,
    path: Box<[u32]>,
    last_ns: u64,
    last_leaf: u32,
    sample_count: u64,
    overflowed_samples: u64,
}

/// What a recorder holds once sampling has stopped, decoded into plain data.
pub struct Aggregate {
    pub frames: Vec<FrameId>,
    pub stacks: Vec<StackRecord>,
    pub sample_count: u64,
    pub overflowed_samples: u64,
}

impl Recorder {
    /// Allocates every table up front (zeroed, so untouched pages cost no
    /// memory). `start_ns` is when profiling started.
    pub fn new(start_ns: u64) -> Recorder {
        Recorder::with_capacity(start_ns, FRAME_CAPACITY, NODE_CAPACITY, STRING_ARENA_BYTES)
    }

    /// A recorder with room for `frames` distinct frames, `nodes` distinct
    /// stack prefixes and `string_bytes` of names; capacities are powers of two.
    pub fn with_capacity(
        start_ns: u64,
        frames: usize,
        nodes: usize,
        string_bytes: usize,
    ) -> Recorder {
        assert!(frames.is_power_of_two() && nodes.is_power_of_two());
        let mut recorder = Recorder {
            frame_capacity: frames,
            node_capacity: nodes,
            frames: Vec::with_capacity(frames),
            frame_index: vec![EMPTY; frames * 2].into_boxed_slice(),
            strings: vec![0u8; string_bytes].into_boxed_slice(),
            strings_used: 0,
            nodes: Vec::with_capacity(nodes),
            node_index: vec![EMPTY; nodes * 2].into_boxed_slice(),
            path: vec![0u32; MAX_DEPTH].into_boxed_slice(),
            last_ns: start_ns,
            last_leaf: ROOT,
            sample_count: 0,
            overflowed_samples: 0,
        };
        recorder.nodes.push(Node::default()); // the root
        let unknown = recorder.store_frame(
            0,
            0,
            LiveStr::latin1(b"<unknown>"),
            LiveStr::latin1(b"<unknown>"),
        );
        debug_assert_eq!(unknown, Some(UNKNOWN_FRAME));
        recorder
    }

    /// Records one sample: the stack given innermost first, minus its
    /// `skip_innermost` innermost frames, plus an optional C-function leaf,
    /// weighted by the time since the previous sample. A sample with no
    /// Python frame is not recorded; its time goes to the next one. This
    /// function is signal safe.
    pub fn record(
        &mut self,
        frames: &mut dyn Iterator<Item = LiveFrame<'_>>,
        skip_innermost: usize,
        builtin_leaf: Option<&[u8]>,
        now_ns: u64,
    ) {
        // `path` is a ring: if the stack is deeper than it, the outermost
        // frames (the ones that give the tree its shape) are the ones kept.
        let mut total = 0;
        for frame in frames.skip(skip_innermost) {
            self.path[total % MAX_DEPTH] =
                self.intern_frame(frame.code_addr, frame.first_line, frame.name, frame.file);
            total += 1;
        }
        if total == 0 {
            return;
        }
        let depth = total.min(MAX_DEPTH);
        let builtin = builtin_leaf.map(|name| {
            self.intern_frame(
                0,
                0,
                LiveStr::latin1(name),
                LiveStr::latin1(BUILTIN_FILE.as_bytes()),
            )
        });

        let mut node = ROOT;
        let mut overflowed = false;
        let outermost_first = (0..depth)
            .map(|i| Some((total - 1 - i) % MAX_DEPTH))
            .chain(builtin.map(|_| None));
        for step in outermost_first {
            let frame = match step {
                Some(i) => self.path[i],
                None => builtin.unwrap_or(UNKNOWN_FRAME),
            };
            match self.child(node, frame) {
                Some(child) => node = child,
                None => {
                    overflowed = true;
                    break;
                }
            }
        }
        self.add_time(node, now_ns, overflowed);
    }

    fn add_time(&mut self, node: u32, now_ns: u64, overflowed: bool) {
        let elapsed = now_ns.saturating_sub(self.last_ns);
        self.last_ns = now_ns;
        let entry = &mut self.nodes[node as usize];
        entry.time_ns += elapsed;
        entry.samples += 1;
        self.sample_count += 1;
        self.last_leaf = node;
        if overflowed {
            self.overflowed_samples += 1;
        }
    }

    /// Gives the time between the last sample and `end_ns` to the last
    /// stack seen, so the recorded times add up to the profiled wall time.
    pub fn finish(&mut self, end_ns: u64) {
        let elapsed = end_ns.saturating_sub(self.last_ns);
        self.last_ns = end_ns;
        if self.last_leaf != ROOT {
            self.nodes[self.last_leaf as usize].time_ns += elapsed;
        }
    }

    fn intern_frame(
        &mut self,
        code_addr: usize,
        first_line: i32,
        name: LiveStr,
        file: LiveStr,
    ) -> u32 {
        let hash = if code_addr != 0 {
            mix(code_addr as u64)
        } else {
            mix(fnv(name.bytes))
        };
        let mask = self.frame_index.len() - 1;
        let mut slot = hash as usize & mask;
        for _ in 0..self.frame_index.len() {
            let stored = self.frame_index[slot];
            if stored == EMPTY {
                let Some(id) = self.store_frame(code_addr, first_line, name, file) else {
                    return UNKNOWN_FRAME;
                };
                self.frame_index[slot] = id + 1;
                return id;
            }
            let id = stored - 1;
            if self.frame_matches(id, code_addr, first_line, name, file) {
                return id;
            }
            slot = (slot + 1) & mask;
        }
        UNKNOWN_FRAME
    }

    fn frame_matches(
        &self,
        id: u32,
        code_addr: usize,
        first_line: i32,
        name: LiveStr,
        file: LiveStr,
    ) -> bool {
        let entry = &self.frames[id as usize];
        entry.code_addr == code_addr
            && entry.first_line == first_line
            && self.string_equals(entry.name, name)
            && self.string_equals(entry.file, file)
    }

    fn string_equals(&self, stored: StrRef, live: LiveStr) -> bool {
        let live_bytes = &live.bytes[..live.bytes.len().min(MAX_STRING_BYTES)];
        stored.kind == live.kind
            && stored.len as usize == live_bytes.len()
            && &self.strings[stored.offset as usize..][..stored.len as usize] == live_bytes
    }

    fn store_string(&mut self, live: LiveStr) -> Option<StrRef> {
        let kind = live.kind.max(1) as usize;
        let mut len = live.bytes.len().min(MAX_STRING_BYTES);
        len -= len % kind;
        if self.strings_used + len > self.strings.len() {
            return None;
        }
        let offset = self.strings_used;
        self.strings[offset..offset + len].copy_from_slice(&live.bytes[..len]);
        self.strings_used += len;
        Some(StrRef {
            offset: offset as u32,
            len: len as u32,
            kind: live.kind,
        })
    }

    fn store_frame(
        &mut self,
        code_addr: usize,
        first_line: i32,
        name: LiveStr,
        file: LiveStr,
    ) -> Option<u32> {
        if self.frames.len() == self.frame_capacity {
            return None;
        }
        let name = self.store_string(name)?;
        let file = self.store_string(file)?;
        let id = self.frames.len();
        self.frames.push(FrameEntry {
            code_addr,
            first_line,
            name,
            file,
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
    /// out identical (the same function compiled twice) are merged.
    pub fn into_aggregate(self) -> Aggregate {
        let mut unique: HashMap<FrameId, u32> = HashMap::new();
        let mut frames: Vec<FrameId> = Vec::new();
        let mut frame_map: Vec<u32> = Vec::with_capacity(self.frames.len());
        for entry in &self.frames {
            let id = FrameId {
                function: self.decode(entry.name),
                file: self.decode(entry.file),
                line: entry.first_line.max(0) as u32,
            };
            let index = *unique.entry(id.clone()).or_insert_with(|| {
                frames.push(id);
                (frames.len() - 1) as u32
            });
            frame_map.push(index);
        }

        let mut by_path: HashMap<Vec<u32>, usize> = HashMap::new();
        let mut stacks: Vec<StackRecord> = Vec::new();
        for id in 1..self.nodes.len() {
            let node = self.nodes[id];
            if node.time_ns == 0 && node.samples == 0 {
                continue;
            }
            let mut path = Vec::new();
            let mut cursor = id as u32;
            while cursor != ROOT {
                let step = self.nodes[cursor as usize];
                path.push(frame_map[step.frame as usize]);
                cursor = step.parent;
            }
            path.reverse();
            let time = node.time_ns as f64 / 1e9;
            match by_path.get(&path) {
                Some(&existing) => {
                    stacks[existing].time += time;
                    stacks[existing].samples += node.samples;
                }
                None => {
                    by_path.insert(path.clone(), stacks.len());
                    stacks.push(StackRecord {
                        frames: path,
                        time,
                        samples: node.samples,
                    });
                }
            }
        }
        Aggregate {
            frames,
            stacks,
            sample_count: self.sample_count,
            overflowed_samples: self.overflowed_samples,
        }
    }

    fn decode(&self, s: StrRef) -> String {
        let bytes = &self.strings[s.offset as usize..][..s.len as usize];
        crate::ffi::frames::decode(s.kind, bytes)
    }
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
        LiveFrame {
            code_addr,
            first_line: line,
            name: LiveStr::latin1(name.as_bytes()),
            file: LiveStr::latin1(b"app.py"),
        }
    }

    /// Records a stack given outermost first, as a test reads best.
    fn sample(recorder: &mut Recorder, outermost_first: &[LiveFrame<'static>], now_ns: u64) {
        let mut innermost_first = outermost_first.iter().rev().copied();
        recorder.record(&mut innermost_first, 0, None, now_ns);
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
        let mut recorder = Recorder::new(1_000);
        let stack = [frame(0x10, "main", 1), frame(0x20, "work", 5)];
        sample(&mut recorder, &stack, 2_000);
        sample(&mut recorder, &stack, 3_500);
        sample(&mut recorder, &[frame(0x10, "main", 1)], 4_000);
        recorder.finish(4_250);
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
        let mut recorder = Recorder::new(0);
        sample(&mut recorder, &[frame(0x10, "f1", 1)], 10);
        // The code object was freed and a new one took its address.
        sample(&mut recorder, &[frame(0x10, "f2", 1)], 20);
        sample(&mut recorder, &[frame(0x10, "f1", 2)], 30);
        let aggregate = recorder.into_aggregate();
        let mut seen: Vec<(String, u32)> = aggregate
            .frames
            .iter()
            .skip(1)
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
        let mut recorder = Recorder::new(0);
        sample(&mut recorder, &[frame(0x10, "f", 1)], 10);
        sample(&mut recorder, &[frame(0x90, "f", 1)], 20);
        let aggregate = recorder.into_aggregate();
        assert_eq!(aggregate.stacks.len(), 1);
        assert_eq!(aggregate.stacks[0].samples, 2);
    }

    #[test]
    fn a_sample_without_python_frames_gives_its_time_to_the_next() {
        let mut recorder = Recorder::new(0);
        sample(&mut recorder, &[], 100);
        sample(&mut recorder, &[frame(0x10, "main", 1)], 300);
        let aggregate = recorder.into_aggregate();
        assert_eq!(aggregate.sample_count, 1);
        assert!((aggregate.stacks[0].time - 300e-9).abs() < 1e-15);
    }

    #[test]
    fn skipped_frames_and_builtin_leaves() {
        let mut recorder = Recorder::new(0);
        let mut innermost_first = [frame(0x30, "callee", 9), frame(0x10, "main", 1)].into_iter();
        recorder.record(&mut innermost_first, 1, Some(b"sleep"), 10);
        let aggregate = recorder.into_aggregate();
        assert_eq!(names(&aggregate, &aggregate.stacks[0]), ["main", "sleep"]);
        let leaf = &aggregate.frames[*aggregate.stacks[0].frames.last().unwrap() as usize];
        assert!(leaf.is_builtin());
    }

    #[test]
    fn full_tables_cut_stacks_short_but_keep_their_time() {
        // Room for the root and three stack nodes: a, a>b, a>c.
        let mut recorder = Recorder::with_capacity(0, 16, 4, 1024);
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
        recorder.finish(40);
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
        let mut recorder = Recorder::new(0);
        let deep: Vec<LiveFrame<'static>> = (0..MAX_DEPTH + 50)
            .map(|i| frame(0x1000 + i * 16, "f", i as i32))
            .collect();
        sample(&mut recorder, &deep, 10);
        let aggregate = recorder.into_aggregate();
        let stack = &aggregate.stacks[0];
        assert_eq!(stack.frames.len(), MAX_DEPTH);
        assert_eq!(aggregate.frames[stack.frames[0] as usize].line, 0);
    }
}
