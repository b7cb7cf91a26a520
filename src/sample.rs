//! Plain data that crosses from the samplers to everything downstream.
//! Nothing here knows how a sample was taken or how it will be shown.

use serde::{Deserialize, Serialize};

/// File name given to frames that stand for a C function (setprofile mode's
/// `c_call` leaves), so renderers show them as `sleep  <built-in>`.
pub const BUILTIN_FILE: &str = "<built-in>";
/// The pseudo file of a thread's root frame in an `--all-threads` profile
/// (`Thread 'worker-3' (tid 1234)`): reports show its name alone, and it
/// counts as the program's own code (never hidden in a library group).
pub const THREAD_FILE: &str = "<thread>";

/// The file name of pyinstrument's own Python code (the runner's bootstrap
/// and the embedded `pyinstrument` package, whose modules are named
/// `<pyinstrument>/pyinstrument/...`): frames there are the profiler's own,
/// and reports leave them out.
pub const OWN_CODE_FILE: &str = "<pyinstrument>";

/// What identifies a Python function in a report: its (qualified, where the
/// interpreter has `co_qualname`) name, its file, and its first line.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FrameId {
    pub function: String,
    pub file: String,
    pub line: u32,
    /// The function's code sets `__tracebackhide__` (pytest's convention for
    /// helpers that should not appear in tracebacks): reports leave it out
    /// by default. Absent from the JSON when false, so sessions saved before
    /// it existed load unchanged.
    #[serde(default, skip_serializing_if = "is_false")]
    pub hide_from_traceback: bool,
}

fn is_false(value: &bool) -> bool {
    !*value
}

impl FrameId {
    pub fn new(function: &str, file: &str, line: u32) -> FrameId {
        FrameId {
            function: function.to_string(),
            file: file.to_string(),
            line,
            hide_from_traceback: false,
        }
    }

    pub fn is_builtin(&self) -> bool {
        self.file == BUILTIN_FILE
    }
}

/// One distinct call stack and everything recorded for it. `frames` index
/// into the session's frame table, outermost caller first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StackRecord {
    pub frames: Vec<u32>,
    /// Wall-clock seconds this stack stands for.
    pub time: f64,
    /// How many samples saw exactly this stack.
    pub samples: u64,
}

/// A run of consecutive samples that saw the same stack: one entry of a
/// session's timeline, which lists the samples in the order they were taken.
/// Written as `[stack, samples, time]` in JSON, since a long profile has
/// millions of them.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "(u32, u32, f64)", into = "(u32, u32, f64)")]
pub struct TimelineRun {
    /// Index into the session's stacks.
    pub stack: u32,
    /// How many consecutive samples saw that stack (at least 1).
    pub samples: u32,
    /// Wall-clock seconds they stand for, counted like `StackRecord::time`.
    pub time: f64,
}

impl From<(u32, u32, f64)> for TimelineRun {
    fn from((stack, samples, time): (u32, u32, f64)) -> TimelineRun {
        TimelineRun {
            stack,
            samples,
            time,
        }
    }
}

impl From<TimelineRun> for (u32, u32, f64) {
    fn from(run: TimelineRun) -> (u32, u32, f64) {
        (run.stack, run.samples, run.time)
    }
}

/// Merges runs of the same stack that follow each other (after stacks were
/// merged), so that a timeline never has two adjacent runs of one stack.
pub fn merge_adjacent_runs(runs: &mut Vec<TimelineRun>) {
    runs.dedup_by(|next, kept| {
        let merge = next.stack == kept.stack && kept.samples.checked_add(next.samples).is_some();
        if merge {
            kept.samples += next.samples;
            kept.time += next.time;
        }
        merge
    });
}
