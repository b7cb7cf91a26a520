//! After sampling: the recorder's tables decoded into plain data (frames,
//! stacks, the timeline), off the signal path, where allocating is fine.

use super::tables::ROOT;
use super::timeline::TimeLog;
use super::Recorder;
use crate::sample::{FrameId, StackRecord, TimelineRun};
use std::collections::HashMap;

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
    /// Decodes the tables into plain frames and stacks. Frames that turned
    /// out identical (the same function compiled twice) are merged; frames
    /// no recorded stack uses are left out.
    pub fn into_aggregate(mut self) -> Aggregate {
        let mut unique: HashMap<FrameId, u32> = HashMap::new();
        let mut frames: Vec<FrameId> = Vec::new();
        let frame_entries = &self.frames.entries;
        let strings = &self.strings;
        let mut frame_map: Vec<Option<u32>> = vec![None; frame_entries.len()];
        let mut map_frame = |table_id: u32| -> u32 {
            if let Some(index) = frame_map[table_id as usize] {
                return index;
            }
            let entry = &frame_entries[table_id as usize];
            let id = FrameId {
                function: strings.decode(entry.name),
                file: strings.decode(entry.file),
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

        let nodes = &self.nodes.nodes;
        let mut by_path: HashMap<Vec<u32>, usize> = HashMap::new();
        let mut stacks: Vec<StackRecord> = Vec::new();
        let mut stack_cpu_times: Vec<f64> = Vec::new();
        // The stack each node's samples went to, for the timeline.
        let mut node_stack: Vec<u32> = vec![u32::MAX; nodes.len()];
        for (id, went_to) in node_stack.iter_mut().enumerate().skip(1) {
            let node = nodes[id];
            if node.time_ns == 0 && node.samples == 0 {
                continue;
            }
            let mut path = Vec::new();
            let mut cursor = id as u32;
            while cursor != ROOT {
                let step = nodes[cursor as usize];
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
        let log = std::mem::take(&mut self.timeline.runs);
        Aggregate {
            frames,
            stacks,
            stack_cpu_times,
            sample_count: self.sample_count,
            overflowed_samples: self.overflowed_samples,
            timeline: TimeLog::decode(log, &node_stack),
            unlogged_samples: self.timeline.unlogged_samples,
            unlogged_time: self.timeline.unlogged_ns as f64 / 1e9,
        }
    }
}
