//! The time-order log: the samples in the order they were taken, as runs
//! of consecutive samples that ended on the same call-tree node, in storage
//! reserved up front (see the recorder's module comment). Appending never
//! allocates (signal safe); a full log counts what it leaves out, so it is
//! always an exact prefix of the samples.

use crate::sample::TimelineRun;

/// One entry of the timeline log: `samples` consecutive samples ended on
/// `node`, and stood for `time_ns`.
#[derive(Clone, Copy)]
pub(super) struct LoggedRun {
    node: u32,
    samples: u32,
    time_ns: u64,
}

pub(super) struct TimeLog {
    /// Its capacity, reserved up front, is never exceeded.
    pub(super) runs: Vec<LoggedRun>,
    /// Samples (and their time) that came after the log was full: in the
    /// tables, not in the log. Once non-zero, nothing more is logged, so
    /// the log stays an exact prefix of the samples.
    pub(super) unlogged_samples: u64,
    pub(super) unlogged_ns: u64,
}

impl TimeLog {
    /// Room for `runs` runs: address space only; where even that is
    /// refused, a log with no room (every sample is then counted as left
    /// out of it, and the session says so).
    pub(super) fn new(runs: usize) -> TimeLog {
        let mut log = Vec::new();
        let _ = log.try_reserve_exact(runs);
        TimeLog {
            runs: log,
            unlogged_samples: 0,
            unlogged_ns: 0,
        }
    }

    /// Appends a sample: extends the last run if it ended on the same node,
    /// else starts a run, within the capacity reserved up front (so it
    /// never allocates). Signal safe.
    #[inline]
    pub(super) fn push(&mut self, node: u32, elapsed: u64) {
        if self.unlogged_samples == 0 {
            if let Some(last) = self.runs.last_mut() {
                if last.node == node && last.samples < u32::MAX {
                    last.samples += 1;
                    last.time_ns += elapsed;
                    return;
                }
            }
            if self.runs.len() < self.runs.capacity() {
                self.runs.push(LoggedRun {
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

    /// Adds time to the last sample: the log's last run unless the log was
    /// full.
    #[inline]
    pub(super) fn extend_last(&mut self, elapsed: u64) {
        match self.runs.last_mut() {
            Some(last) if self.unlogged_samples == 0 => last.time_ns += elapsed,
            _ => self.unlogged_ns += elapsed,
        }
    }

    /// The log's runs as runs of stacks, `node_stack` giving each node's
    /// stack, in place (both entries are 16 bytes, so the log's memory is
    /// reused rather than doubled at the end of a long run). Consecutive
    /// runs whose nodes turned out to be one stack (the same function
    /// compiled twice) become one.
    pub(super) fn decode(log: Vec<LoggedRun>, node_stack: &[u32]) -> Vec<TimelineRun> {
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
}
