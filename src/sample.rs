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

/// How the samples were taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Frames walked at each interval, without the program's help.
    Signal,
    /// A `PyEval_SetProfile` callback records the stack once the interval
    /// has passed.
    Setprofile,
}

impl Mode {
    /// The name a session records (`"signal"`, `"setprofile"`).
    pub fn name(self) -> &'static str {
        match self {
            Mode::Signal => "signal",
            Mode::Setprofile => "setprofile",
        }
    }
}

/// Everything a finished sampler recorded, as plain data: what the session
/// module builds a `Session` from. Our own frames are still in it.
#[derive(Clone, Debug, PartialEq)]
pub struct Recording {
    pub frames: Vec<FrameId>,
    pub stacks: Vec<StackRecord>,
    /// CPU seconds the profiled thread used in each stack (parallel to
    /// `stacks`), counted like its wall time: the CPU time since the
    /// previous sample.
    pub stack_cpu_times: Vec<f64>,
    /// CPU seconds the profiled thread used while profiled.
    pub thread_cpu_time: f64,
    /// The samples in time order, as runs referring to `stacks`.
    pub timeline: Vec<TimelineRun>,
    pub sample_count: u64,
    /// Seconds since the Unix epoch at start.
    pub start_time: f64,
    pub duration: f64,
    pub cpu_time: f64,
    pub mode: Mode,
    pub interval: f64,
    pub notes: Vec<String>,
    /// `--all-threads`: each thread, whose root frame starts its stacks.
    pub threads: Vec<ThreadInfo>,
}

/// One thread of an `--all-threads` profile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThreadInfo {
    /// `threading.Thread.name`, if the thread's object was still known
    /// when profiling stopped.
    pub name: Option<String>,
    /// The kernel's thread id (`threading.get_native_id()`).
    pub native_id: i64,
    /// `threading.get_ident()`.
    pub ident: u64,
    /// Its root frame's index in `frames`.
    pub frame: u32,
    /// Wall-clock seconds it was profiled (from its start, or the start of
    /// profiling, to its end, or the end of profiling).
    pub wall_time: f64,
    /// CPU seconds it used meanwhile (its own CPU clock).
    pub cpu_time: f64,
    /// It ended while profiled.
    pub ended: bool,
}

impl ThreadInfo {
    /// How the report names it: `Thread 'worker-3' (tid 1234)`.
    pub fn label(name: Option<&str>, native_id: i64) -> String {
        match name {
            Some(name) => format!("Thread '{name}' (tid {native_id})"),
            None => format!("Thread (tid {native_id})"),
        }
    }
}
