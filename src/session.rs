//! A finished profile: the aggregated samples plus what is needed to show
//! them (timing, the program's command line, where its code came from).
//! Saved and loaded as our own versioned JSON (see docs/json-format.md).

use crate::sample::{
    merge_adjacent_runs, FrameId, Recording, StackRecord, TimelineRun, OWN_CODE_FILE,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The version written. 2 added `timeline`, 3 `stack_cpu_times` and
/// `thread_cpu_time`, 4 `threads` (`--all-threads`).
pub const FORMAT_VERSION: u32 = 4;
/// Versions read: a version-1 file loads with an empty timeline (the order
/// of its samples is unknown), a version-1 or 2 file with no CPU time per
/// stack; either is the current version from then on.
pub const READABLE_VERSIONS: [u32; 4] = [1, 2, 3, 4];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub format_version: u32,
    /// Seconds since the Unix epoch when profiling started.
    pub start_time: f64,
    /// Wall-clock seconds profiled.
    pub duration: f64,
    /// CPU seconds the process used while profiled.
    pub cpu_time: f64,
    pub sample_count: u64,
    /// Requested sampling interval, seconds.
    pub interval: f64,
    /// "signal" or "setprofile".
    pub mode: String,
    /// The profiled program's command line (`sys.argv` as it started).
    pub command_line: Vec<String>,
    pub python_version: String,
    /// `sys.path` at the start of profiling; used to shorten file names.
    pub sys_path: Vec<String>,
    /// Directories of the standard library and site-packages: code under
    /// them is not the application's own.
    pub library_dirs: Vec<String>,
    /// Things the user should know about this profile (a replaced profile
    /// function, a fallback from signal mode...), shown in the header.
    pub notes: Vec<String>,
    /// Distinct frames; stacks refer to them by index.
    pub frames: Vec<FrameId>,
    pub stacks: Vec<StackRecord>,
    /// The samples in the order they were taken, as runs of consecutive
    /// samples of one stack (indexes into `stacks`). Empty when the order
    /// is unknown (a version-1 profile); see `time_order_known`. If the
    /// recorder's log filled up, it holds the first samples and `notes` says
    /// how many came after.
    #[serde(default)]
    pub timeline: Vec<TimelineRun>,
    /// CPU seconds the profiled thread used in each stack, parallel to
    /// `stacks` (counted like `StackRecord::time`: the thread's CPU time
    /// since the previous sample). Empty when not recorded (versions 1 and
    /// 2); see `cpu_known`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stack_cpu_times: Vec<f64>,
    /// CPU seconds the profiled thread used while profiled (`cpu_time` is
    /// the whole process's). `None` when not recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_cpu_time: Option<f64>,
    /// What the report's header says was profiled, in place of `Program:
    /// <command line>` (`--target-description`, `Profiler.start(
    /// target_description=...)`, pyinstrument 5's session field). `None`:
    /// the command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_description: Option<String>,
    /// `--all-threads`: one entry per thread profiled, each the root frame
    /// of its stacks (`frames[frame]`, file [`THREAD_FILE`]). Empty when
    /// one thread was profiled (its stacks start at its own first frame).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub threads: Vec<ThreadInfo>,
}

pub use crate::sample::ThreadInfo;
pub use crate::sample::THREAD_FILE;

impl Session {
    /// The threads of an `--all-threads` profile merged into one tree
    /// (`-p merge_threads=true`): each stack loses its thread's root frame,
    /// and stacks that become equal add up. The timeline keeps its runs in
    /// order (thread after thread).
    pub fn merged_threads(&self) -> Session {
        if self.threads.is_empty() {
            return self.clone();
        }
        let roots: std::collections::HashSet<u32> = self.threads.iter().map(|t| t.frame).collect();
        let mut session = self.clone().map_stacks(|frames| {
            if frames.len() > 1 && roots.contains(&frames[0]) {
                frames.remove(0);
            }
        });
        session.threads = Vec::new();
        session
    }
}

/// Which clock weighs a report's tree.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TimeKind {
    /// Wall-clock time: where the program waited as well as where it ran.
    #[default]
    Wall,
    /// The profiled thread's CPU time: where it ran.
    Cpu,
}

/// Only the version, read first so a file from another version gets a clear
/// message instead of an error about some field that changed.
#[derive(Deserialize)]
struct VersionProbe {
    format_version: Option<serde_json::Value>,
    /// Required from version 2 on (and skipped unread here).
    timeline: Option<serde::de::IgnoredAny>,
}

impl Session {
    /// The session as our JSON format (docs/json-format.md), one line.
    pub fn to_json(&self) -> String {
        let mut out = Vec::new();
        self.write_json(&mut out)
            .expect("writing to memory does not fail");
        String::from_utf8(out).expect("JSON is UTF-8")
    }

    /// `to_json`, streamed to `out`.
    pub fn write_json(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        serde_json::to_writer(&mut *out, self)?;
        out.write_all(b"\n")
    }

    /// Whether the order of the samples is known: a timeline can be drawn.
    /// False for a version-1 profile with samples.
    pub fn time_order_known(&self) -> bool {
        !self.timeline.is_empty() || self.stacks.is_empty()
    }

    /// Whether the CPU time of each stack was recorded.
    pub fn cpu_known(&self) -> bool {
        self.stack_cpu_times.len() == self.stacks.len() && self.thread_cpu_time.is_some()
    }

    /// The same profile with every stack weighted by its CPU time instead
    /// of its wall time, and a note saying so; the duration becomes the
    /// thread's CPU time. Its timeline is dropped: the recorder logs the
    /// order of samples with their wall time only. `None` when the session
    /// recorded no CPU time per stack.
    pub fn weighted_by_cpu(&self) -> Option<Session> {
        if !self.cpu_known() {
            return None;
        }
        let mut session = self.clone();
        for (stack, &cpu) in session.stacks.iter_mut().zip(&self.stack_cpu_times) {
            stack.time = cpu;
        }
        session.timeline = Vec::new();
        session.notes.push(self.cpu_weight_note());
        Some(session)
    }

    /// What a report weighed by CPU time says about its times.
    pub fn cpu_weight_note(&self) -> String {
        format!(
            "times are the profiled thread's CPU time ({:.3} s of {:.3} s wall-clock), not wall-clock time",
            self.thread_cpu_time.unwrap_or(0.0),
            self.duration
        )
    }

    /// Loads a session saved by `to_json` (this version or an older one).
    /// Rejects malformed JSON, other format versions, and stacks or
    /// timeline runs that refer to frames or stacks that do not exist, with
    /// a message naming the problem.
    pub fn from_json(text: &str) -> crate::error::Result<Session> {
        use crate::error::Error;
        let probe: VersionProbe = serde_json::from_str(text).map_err(|e| {
            Error::Load(format!("not a pyinstrument profile (invalid JSON: {})", e))
        })?;
        let version = match probe.format_version {
            None => {
                return Err(Error::Load(
                    "not a pyinstrument profile: no \"format_version\" field".to_string(),
                ))
            }
            Some(v) => match v.as_u64() {
                Some(n) if READABLE_VERSIONS.iter().any(|&r| r as u64 == n) => n as u32,
                _ => {
                    return Err(Error::Load(format!(
                        "unsupported profile format version {} (this pyinstrument reads versions 1 to {})",
                        v, FORMAT_VERSION
                    )))
                }
            },
        };
        if version >= 2 && probe.timeline.is_none() {
            return Err(Error::Load(
                "invalid pyinstrument profile: missing field `timeline`".to_string(),
            ));
        }
        let mut session: Session = serde_json::from_str(text)
            .map_err(|e| Error::Load(format!("invalid pyinstrument profile: {}", e)))?;
        if version == 1 {
            // Version 1 kept no order; the session is a current one whose
            // order is unknown.
            session.timeline = Vec::new();
        }
        if version < 3 {
            // No CPU time per stack: a current session whose CPU split is
            // unknown.
            session.stack_cpu_times = Vec::new();
            session.thread_cpu_time = None;
        }
        session.format_version = FORMAT_VERSION;
        if !session.stack_cpu_times.is_empty()
            && session.stack_cpu_times.len() != session.stacks.len()
        {
            return Err(Error::Load(format!(
                "invalid pyinstrument profile: {} stack CPU times for {} stacks",
                session.stack_cpu_times.len(),
                session.stacks.len()
            )));
        }
        if let Some((i, cpu)) = session
            .stack_cpu_times
            .iter()
            .enumerate()
            .find(|(_, cpu)| !(cpu.is_finite() && **cpu >= 0.0))
        {
            return Err(Error::Load(format!(
                "invalid pyinstrument profile: stack {} has CPU time {}",
                i, cpu
            )));
        }
        let nframes = session.frames.len();
        for (i, stack) in session.stacks.iter().enumerate() {
            if let Some(&f) = stack.frames.iter().find(|&&f| f as usize >= nframes) {
                return Err(Error::Load(format!(
                    "invalid pyinstrument profile: stack {} refers to frame {} but there are only {} frames",
                    i, f, nframes
                )));
            }
            if !(stack.time.is_finite() && stack.time >= 0.0) {
                return Err(Error::Load(format!(
                    "invalid pyinstrument profile: stack {} has time {}",
                    i, stack.time
                )));
            }
        }
        let nstacks = session.stacks.len();
        for (i, run) in session.timeline.iter().enumerate() {
            if run.stack as usize >= nstacks {
                return Err(Error::Load(format!(
                    "invalid pyinstrument profile: timeline run {} refers to stack {} but there are only {} stacks",
                    i, run.stack, nstacks
                )));
            }
            if run.samples == 0 || !(run.time.is_finite() && run.time >= 0.0) {
                return Err(Error::Load(format!(
                    "invalid pyinstrument profile: timeline run {} has {} samples and time {}",
                    i, run.samples, run.time
                )));
            }
        }
        Ok(session)
    }
}

impl Session {
    /// The profile as seen from the outermost call of the function at
    /// `file`, first line `line`: in every stack that passes through it,
    /// its callers are left out (pyinstrument 5's `caller_frame`; the
    /// IPython magic roots its report at the cell's code so that the
    /// kernel's machinery above it is not shown). Stacks that do not pass
    /// through it are kept whole.
    pub fn rooted_at(self, file: &str, line: u32) -> Session {
        let is_root: Vec<bool> = self
            .frames
            .iter()
            .map(|f| f.file == file && f.line == line)
            .collect();
        if !is_root.contains(&true) {
            return self;
        }
        self.map_stacks(|frames| {
            if let Some(root) = frames.iter().position(|&f| is_root[f as usize]) {
                frames.drain(..root);
            }
        })
    }

    /// Applies `change` to every non-empty stack; stacks that become the
    /// same are merged, with their times, samples, CPU times and timeline
    /// runs.
    fn map_stacks(mut self, mut change: impl FnMut(&mut Vec<u32>)) -> Session {
        use std::collections::HashMap;
        let cpu_times = std::mem::take(&mut self.stack_cpu_times);
        let mut merged: Vec<StackRecord> = Vec::with_capacity(self.stacks.len());
        let mut merged_cpu: Vec<f64> = Vec::with_capacity(cpu_times.len());
        let mut index: HashMap<Vec<u32>, u32> = HashMap::new();
        let mut moved_to: Vec<u32> = Vec::with_capacity(self.stacks.len());
        for (i, mut stack) in self.stacks.drain(..).enumerate() {
            if !stack.frames.is_empty() {
                change(&mut stack.frames);
            }
            let cpu = cpu_times.get(i).copied();
            match index.get(&stack.frames) {
                Some(&kept) => {
                    let kept = kept as usize;
                    merged[kept].time += stack.time;
                    merged[kept].samples += stack.samples;
                    if let (Some(total), Some(cpu)) = (merged_cpu.get_mut(kept), cpu) {
                        *total += cpu;
                    }
                    moved_to.push(kept as u32);
                }
                None => {
                    let new = merged.len() as u32;
                    index.insert(stack.frames.clone(), new);
                    merged.push(stack);
                    if let Some(cpu) = cpu {
                        merged_cpu.push(cpu);
                    }
                    moved_to.push(new);
                }
            }
        }
        self.stacks = merged;
        self.stack_cpu_times = merged_cpu;
        for run in &mut self.timeline {
            run.stack = moved_to[run.stack as usize];
        }
        crate::sample::merge_adjacent_runs(&mut self.timeline);
        self
    }

    /// `self` followed by `later`, as one profile: what a `Profiler` that
    /// is started again after a stop records (pyinstrument 5's
    /// `Session.combine`). Frames and stacks seen in both are merged, the
    /// timeline is `self`'s runs then `later`'s, times and counts add up;
    /// the program's facts are `self`'s.
    pub fn combine(mut self, later: Session) -> Session {
        // If either part does not know its order, neither does the whole.
        let ordered = self.time_order_known() && later.time_order_known();
        // Likewise the CPU time of each stack.
        let cpu_known = self.cpu_known() && later.cpu_known();
        if !cpu_known {
            self.stack_cpu_times.clear();
        }
        let mut frame_index: HashMap<FrameId, u32> = self
            .frames
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, f)| (f, i as u32))
            .collect();
        let frame_map: Vec<u32> = later
            .frames
            .into_iter()
            .map(|frame| {
                *frame_index.entry(frame.clone()).or_insert_with(|| {
                    self.frames.push(frame);
                    (self.frames.len() - 1) as u32
                })
            })
            .collect();
        let mut stack_index: HashMap<Vec<u32>, u32> = self
            .stacks
            .iter()
            .enumerate()
            .map(|(i, s)| (s.frames.clone(), i as u32))
            .collect();
        let mut stack_map = Vec::with_capacity(later.stacks.len());
        for (n, stack) in later.stacks.into_iter().enumerate() {
            let cpu = later.stack_cpu_times.get(n).copied().unwrap_or(0.0);
            let frames: Vec<u32> = stack
                .frames
                .iter()
                .map(|&f| frame_map[f as usize])
                .collect();
            let index = match stack_index.get(&frames) {
                Some(&i) => {
                    let kept = &mut self.stacks[i as usize];
                    kept.time += stack.time;
                    kept.samples += stack.samples;
                    if cpu_known {
                        self.stack_cpu_times[i as usize] += cpu;
                    }
                    i
                }
                None => {
                    let i = self.stacks.len() as u32;
                    stack_index.insert(frames.clone(), i);
                    self.stacks.push(StackRecord {
                        frames,
                        time: stack.time,
                        samples: stack.samples,
                    });
                    if cpu_known {
                        self.stack_cpu_times.push(cpu);
                    }
                    i
                }
            };
            stack_map.push(index);
        }
        if ordered {
            self.timeline
                .extend(later.timeline.into_iter().map(|run| TimelineRun {
                    stack: stack_map[run.stack as usize],
                    ..run
                }));
            merge_adjacent_runs(&mut self.timeline);
        } else {
            self.timeline.clear();
        }
        self.start_time = self.start_time.min(later.start_time);
        self.duration += later.duration;
        self.cpu_time += later.cpu_time;
        self.thread_cpu_time = match (cpu_known, self.thread_cpu_time, later.thread_cpu_time) {
            (true, Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
        self.sample_count += later.sample_count;
        // A thread profiled in both parts (same root frame) adds up.
        for mut thread in later.threads {
            thread.frame = frame_map[thread.frame as usize];
            match self.threads.iter_mut().find(|t| t.frame == thread.frame) {
                Some(kept) => {
                    kept.wall_time += thread.wall_time;
                    kept.cpu_time += thread.cpu_time;
                    kept.ended |= thread.ended;
                }
                None => self.threads.push(thread),
            }
        }
        if later.mode != self.mode {
            self.notes.push(format!(
                "Profiled in {} mode, then in {} mode.",
                self.mode, later.mode
            ));
        }
        for note in later.notes {
            if !self.notes.contains(&note) {
                self.notes.push(note);
            }
        }
        for dir in later.library_dirs {
            if !self.library_dirs.contains(&dir) {
                self.library_dirs.push(dir);
            }
        }
        self
    }
}

/// What the program looked like when profiled, for the session's header,
/// for telling its own code from libraries, and for leaving ours out.
pub struct ProgramInfo {
    pub command_line: Vec<String>,
    pub python_version: String,
    pub sys_path: Vec<String>,
    pub library_dirs: Vec<String>,
    /// Where the `pyinstrument` package's code is, when it was imported
    /// (an installed package's `site-packages/pyinstrument`;
    /// `_environment.own_code_dirs()`): its frames are the profiler's own.
    /// Frames of the runner's own code (`OWN_CODE_FILE`) always are.
    pub own_code_dirs: Vec<String>,
}

impl Session {
    /// The session of a finished recording, without pyinstrument's own
    /// Python frames (`Profiler.start()`/`stop()`, the Django middleware's
    /// `__call__`): their time goes to their caller or to what they called,
    /// and the profiler's frames would only be noise.
    pub fn from_recording(recording: Recording, program: ProgramInfo) -> Session {
        let recording = without_own_frames(recording, &program.own_code_dirs);
        Session {
            format_version: FORMAT_VERSION,
            start_time: recording.start_time,
            duration: recording.duration,
            cpu_time: recording.cpu_time,
            sample_count: recording.sample_count,
            interval: recording.interval,
            mode: recording.mode.name().to_string(),
            command_line: program.command_line,
            python_version: program.python_version,
            sys_path: program.sys_path,
            library_dirs: program.library_dirs,
            notes: recording.notes,
            frames: recording.frames,
            stacks: recording.stacks,
            timeline: recording.timeline,
            stack_cpu_times: recording.stack_cpu_times,
            thread_cpu_time: Some(recording.thread_cpu_time),
            target_description: None,
            threads: recording.threads,
        }
    }
}

/// Whether a frame's file is pyinstrument's own code: the runner's
/// (`<pyinstrument>...`) or a file under one of `own_code_dirs`.
fn is_own_code(file: &str, own_code_dirs: &[String]) -> bool {
    file.starts_with(OWN_CODE_FILE)
        || own_code_dirs.iter().any(|dir| {
            let dir = dir.trim_end_matches(['/', '\\']);
            !dir.is_empty()
                && file
                    .strip_prefix(dir)
                    .is_some_and(|rest| rest.starts_with(['/', '\\']))
        })
}

/// Takes our own frames out of every stack; stacks that become the same
/// are merged, and so are the timeline's runs that now follow each other
/// with the same stack. A stack of nothing but our frames keeps its
/// outermost one, so that no time is lost.
fn without_own_frames(mut recording: Recording, own_code_dirs: &[String]) -> Recording {
    let own: Vec<bool> = recording
        .frames
        .iter()
        .map(|f| is_own_code(&f.file, own_code_dirs))
        .collect();
    if !own.contains(&true) {
        return recording;
    }
    let mut merged: Vec<StackRecord> = Vec::with_capacity(recording.stacks.len());
    let mut index: HashMap<Vec<u32>, usize> = HashMap::new();
    // Where each stack went, for the timeline.
    let mut moved_to: Vec<u32> = Vec::with_capacity(recording.stacks.len());
    let cpu_times = std::mem::take(&mut recording.stack_cpu_times);
    let mut merged_cpu: Vec<f64> = Vec::with_capacity(cpu_times.len());
    for (i, mut stack) in recording.stacks.drain(..).enumerate() {
        let cpu = cpu_times.get(i).copied().unwrap_or(0.0);
        if stack.frames.iter().any(|&f| own[f as usize]) {
            let outermost = stack.frames[0];
            stack.frames.retain(|&f| !own[f as usize]);
            if stack.frames.is_empty() {
                stack.frames.push(outermost);
            }
        }
        match index.get(&stack.frames) {
            Some(&existing) => {
                merged[existing].time += stack.time;
                merged[existing].samples += stack.samples;
                if let Some(total) = merged_cpu.get_mut(existing) {
                    *total += cpu;
                }
                moved_to.push(existing as u32);
            }
            None => {
                moved_to.push(merged.len() as u32);
                index.insert(stack.frames.clone(), merged.len());
                merged.push(stack);
                if !cpu_times.is_empty() {
                    merged_cpu.push(cpu);
                }
            }
        }
    }
    recording.stacks = merged;
    recording.stack_cpu_times = merged_cpu;
    for run in &mut recording.timeline {
        run.stack = moved_to[run.stack as usize];
    }
    // Runs that now have the same stack one after the other are one run.
    merge_adjacent_runs(&mut recording.timeline);
    recording
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::error::Error;
    use crate::sample::Mode;

    /// A valid session with no samples, for tests to start from.
    pub(crate) const MINIMAL: &str = r#"{"format_version":1,"start_time":0.0,"duration":0.0,
        "cpu_time":0.0,"sample_count":0,"interval":0.001,"mode":"signal",
        "command_line":["demo.py"],"python_version":"3.11.0","sys_path":[],
        "library_dirs":[],"notes":[],"frames":[],"stacks":[]}"#;

    #[test]
    fn round_trip() {
        let mut s = Session::from_json(MINIMAL).unwrap();
        s.frames
            .push(FrameId::new("f\u{2028}</script>", "a&\"<>.py", 3));
        s.stacks.push(StackRecord {
            frames: vec![0],
            time: 0.1 + 0.2,
            samples: 3,
        });
        s.timeline = vec![
            TimelineRun::from((0, 1, 0.1)),
            TimelineRun::from((0, 2, 0.2)),
        ];
        let text = s.to_json();
        assert!(
            text.contains("\"timeline\":[[0,1,0.1],[0,2,0.2]]"),
            "{text}"
        );
        let loaded = Session::from_json(&text).unwrap();
        assert_eq!(loaded.format_version, FORMAT_VERSION);
        assert_eq!(loaded, s);
    }

    #[test]
    fn the_target_description_is_saved_and_loaded() {
        let mut s = Session::from_json(MINIMAL).unwrap();
        assert_eq!(s.target_description, None);
        assert!(!s.to_json().contains("target_description"));
        s.target_description = Some("nightly import".to_string());
        let loaded = Session::from_json(&s.to_json()).unwrap();
        assert_eq!(loaded.target_description.as_deref(), Some("nightly import"));
    }

    #[test]
    fn rooted_at_leaves_the_callers_of_the_root_out_and_merges() {
        let mut s = Session::from_json(MINIMAL).unwrap();
        // kernel -> magic -> cell <module> -> work; kernel -> idle
        for (name, file, line) in [
            ("kernel", "ipykernel/kernelbase.py", 10),
            ("magic", "pyinstrument/magic.py", 20),
            ("<module>", "/tmp/ipykernel_1/cell.py", 1),
            ("work", "/tmp/ipykernel_1/cell.py", 3),
            ("inner_run_cell", "IPython/core/interactiveshell.py", 30),
        ] {
            s.frames.push(FrameId::new(name, file, line));
        }
        let stack = |frames: &[u32], time: f64| StackRecord {
            frames: frames.to_vec(),
            time,
            samples: 1,
        };
        s.stacks = vec![
            stack(&[0, 1, 2, 3], 0.5),
            stack(&[0, 1, 4, 2, 3], 0.25),
            stack(&[0, 1, 2], 0.125),
            stack(&[0], 0.0625),
        ];
        s.stack_cpu_times = vec![0.4, 0.2, 0.1, 0.05];
        s.thread_cpu_time = Some(0.75);
        s.timeline = [(0, 1, 0.5), (1, 1, 0.25), (2, 1, 0.125), (3, 1, 0.0625)]
            .into_iter()
            .map(TimelineRun::from)
            .collect();
        let rooted = s.rooted_at("/tmp/ipykernel_1/cell.py", 1);
        let frames: Vec<Vec<u32>> = rooted.stacks.iter().map(|s| s.frames.clone()).collect();
        // Both ways into the cell became one stack; the stack that never
        // reached the cell is kept whole.
        assert_eq!(frames, [vec![2, 3], vec![2], vec![0]]);
        assert_eq!(rooted.stacks[0].time, 0.75);
        assert_eq!(rooted.stacks[0].samples, 2);
        let cpu = &rooted.stack_cpu_times;
        assert!(cpu.len() == 3 && (cpu[0] - 0.6).abs() < 1e-12, "{cpu:?}");
        assert_eq!(cpu[1..], [0.1, 0.05]);
        assert_eq!(
            rooted.timeline,
            [(0, 2, 0.75), (1, 1, 0.125), (2, 1, 0.0625)]
                .into_iter()
                .map(TimelineRun::from)
                .collect::<Vec<_>>()
        );
        let total: f64 = rooted.stacks.iter().map(|s| s.time).sum();
        assert_eq!(total, 0.9375);
    }

    #[test]
    fn frames_of_the_installed_package_are_the_profilers_own() {
        let dirs = vec!["/venv/site-packages/pyinstrument/".to_string()];
        assert!(is_own_code(
            "/venv/site-packages/pyinstrument/profiler.py",
            &dirs
        ));
        assert!(is_own_code(
            "/venv/site-packages/pyinstrument/magic.py",
            &dirs
        ));
        // A sibling directory with the same prefix is not ours.
        assert!(!is_own_code(
            "/venv/site-packages/pyinstrument_extra/x.py",
            &dirs
        ));
        assert!(!is_own_code("/tmp/cell.py", &dirs));
        assert!(is_own_code("<pyinstrument>/pyinstrument/profiler.py", &[]));
    }

    #[test]
    fn rooted_at_a_frame_never_seen_changes_nothing() {
        let mut s = Session::from_json(MINIMAL).unwrap();
        s.frames.push(FrameId::new("f", "a.py", 1));
        s.stacks.push(StackRecord {
            frames: vec![0],
            time: 0.5,
            samples: 1,
        });
        let before = s.clone();
        assert_eq!(s.rooted_at("a.py", 2), before);
    }

    /// MINIMAL as a version-2 file with `timeline`, and one stack.
    fn minimal_v2(timeline: &str) -> String {
        MINIMAL
            .replace("\"format_version\":1", "\"format_version\":2")
            .replace(
                "\"frames\":[],\"stacks\":[]",
                &format!(
                    "\"frames\":[{{\"function\":\"f\",\"file\":\"a.py\",\"line\":1}}],\
                     \"stacks\":[{{\"frames\":[0],\"time\":0.5,\"samples\":5}}],\
                     \"timeline\":{timeline}"
                ),
            )
    }

    #[test]
    fn version_1_loads_with_its_order_unknown() {
        let v1 = MINIMAL.replace(
            "\"frames\":[],\"stacks\":[]",
            "\"frames\":[{\"function\":\"f\",\"file\":\"a.py\",\"line\":1}],\
             \"stacks\":[{\"frames\":[0],\"time\":0.5,\"samples\":5}]",
        );
        let s = Session::from_json(&v1).unwrap();
        assert!(s.timeline.is_empty());
        assert!(!s.time_order_known());
        // Saved again, it is a current file that still says so.
        assert_eq!(s.format_version, FORMAT_VERSION);
        assert!(!s.cpu_known());
        let again = Session::from_json(&s.to_json()).unwrap();
        assert_eq!(again, s);
        assert!(!again.time_order_known());
        // With its order, the same profile knows it.
        let v2 = Session::from_json(&minimal_v2("[[0,5,0.5]]")).unwrap();
        assert!(v2.time_order_known());
        // No samples: nothing to order.
        assert!(Session::from_json(MINIMAL).unwrap().time_order_known());
    }

    #[test]
    fn a_timeline_must_refer_to_stacks_that_exist() {
        for (timeline, want) in [
            ("[[1,5,0.5]]", "timeline run 0 refers to stack 1"),
            ("[[0,5,0.25],[0,0,0.25]]", "timeline run 1 has 0 samples"),
            ("[[0,5,-1]]", "timeline run 0 has 5 samples and time -1"),
            ("[[0,5]]", "invalid pyinstrument profile"),
        ] {
            match Session::from_json(&minimal_v2(timeline)) {
                Err(Error::Load(m)) => assert!(m.contains(want), "{timeline}: {m}"),
                other => panic!("{timeline}: {other:?}"),
            }
        }
        let without = minimal_v2("[]").replace(",\"timeline\":[]", "");
        assert!(
            matches!(Session::from_json(&without), Err(Error::Load(m)) if m.contains("missing field `timeline`"))
        );
    }

    /// MINIMAL as a version-3 file with CPU times.
    fn minimal_v3(cpu: &str) -> String {
        minimal_v2("[[0,5,0.5]]")
            .replace("\"format_version\":2", "\"format_version\":3")
            .replace(
                "\"timeline\":[[0,5,0.5]]",
                &format!(
                    "\"timeline\":[[0,5,0.5]],\"stack_cpu_times\":{cpu},\"thread_cpu_time\":0.2"
                ),
            )
    }

    #[test]
    fn cpu_times_round_trip_and_weigh_the_tree() {
        let s = Session::from_json(&minimal_v3("[0.2]")).unwrap();
        assert!(s.cpu_known());
        assert_eq!(s.stack_cpu_times, [0.2]);
        assert_eq!(s.thread_cpu_time, Some(0.2));
        let again = Session::from_json(&s.to_json()).unwrap();
        assert_eq!(again, s);
        let cpu = s.weighted_by_cpu().unwrap();
        assert_eq!(cpu.stacks[0].time, 0.2);
        assert!(cpu.timeline.is_empty());
        assert!(cpu.notes.iter().any(|n| n.contains("CPU time")));
        // Version 2 knows no CPU split: nothing to weigh by.
        let v2 = Session::from_json(&minimal_v2("[[0,5,0.5]]")).unwrap();
        assert!(!v2.cpu_known());
        assert!(v2.weighted_by_cpu().is_none());
        assert!(!v2.to_json().contains("stack_cpu_times"));
    }

    /// Two threads, each under its root frame, both calling `work` (and
    /// one `idle`): merged, the roots go and `work`'s stacks add up; the
    /// JSON keeps the threads.
    #[test]
    fn threads_round_trip_and_merge() {
        let frame = |f: &str, file: &str| FrameId::new(f, file, 1);
        let thread = |frame: u32, name: &str| ThreadInfo {
            name: Some(name.to_string()),
            native_id: 7 + frame as i64,
            ident: 1,
            frame,
            wall_time: 1.0,
            cpu_time: 0.5,
            ended: false,
        };
        let stack = |frames: Vec<u32>, time: f64| StackRecord {
            frames,
            time,
            samples: 1,
        };
        let mut s = Session::from_json(MINIMAL).unwrap();
        s.frames = vec![
            frame("Thread 'a' (tid 7)", THREAD_FILE),
            frame("Thread 'b' (tid 8)", THREAD_FILE),
            frame("work", "app.py"),
            frame("idle", "app.py"),
        ];
        s.stacks = vec![
            stack(vec![0, 2], 0.5),
            stack(vec![1, 2], 0.25),
            stack(vec![1, 3], 0.125),
        ];
        s.stack_cpu_times = vec![0.5, 0.25, 0.0];
        s.thread_cpu_time = Some(0.75);
        s.timeline = [(0, 1, 0.5), (1, 1, 0.25), (2, 1, 0.125)]
            .into_iter()
            .map(TimelineRun::from)
            .collect();
        s.threads = vec![thread(0, "a"), thread(1, "b")];
        let again = Session::from_json(&s.to_json()).unwrap();
        assert_eq!(again, s);
        assert_eq!(ThreadInfo::label(Some("a"), 7), "Thread 'a' (tid 7)");
        assert_eq!(ThreadInfo::label(None, 7), "Thread (tid 7)");
        let merged = s.merged_threads();
        assert!(merged.threads.is_empty());
        assert_eq!(merged.stacks.len(), 2);
        assert_eq!(merged.stacks[0].frames, [2]);
        assert_eq!(merged.stacks[0].time, 0.75);
        assert_eq!(merged.stacks[0].samples, 2);
        assert_eq!(merged.stack_cpu_times, [0.75, 0.0]);
        assert_eq!(merged.stacks[1].frames, [3]);
        // The first two runs are now one stack: one run.
        assert_eq!(merged.timeline.len(), 2);
        assert_eq!(merged.timeline[0].samples, 2);
    }

    #[test]
    fn cpu_times_must_match_the_stacks() {
        for (cpu, want) in [
            ("[0.2,0.1]", "2 stack CPU times for 1 stacks"),
            ("[-1]", "stack 0 has CPU time -1"),
        ] {
            match Session::from_json(&minimal_v3(cpu)) {
                Err(Error::Load(m)) => assert!(m.contains(want), "{cpu}: {m}"),
                other => panic!("{cpu}: {other:?}"),
            }
        }
    }

    #[test]
    fn combine_merges_frames_and_stacks_and_appends_the_timeline() {
        let first = Session::from_json(&minimal_v2("[[0,5,0.5]]")).unwrap();
        let mut later = first.clone();
        later.frames.insert(0, FrameId::new("g", "b.py", 2));
        later.stacks = vec![
            StackRecord {
                frames: vec![1],
                time: 0.25,
                samples: 2,
            },
            StackRecord {
                frames: vec![1, 0],
                time: 0.5,
                samples: 4,
            },
        ];
        later.timeline = vec![
            TimelineRun::from((0, 2, 0.25)),
            TimelineRun::from((1, 4, 0.5)),
        ];
        later.duration = 0.75;
        later.sample_count = 6;
        later.start_time = 10.0;
        let both = first.clone().combine(later);
        assert_eq!(both.frames.len(), 2);
        assert_eq!(both.frames[1].function, "g");
        assert_eq!(both.stacks.len(), 2);
        // f's stack, in both parts: one stack with both times.
        assert_eq!(both.stacks[0].frames, vec![0]);
        assert_eq!(both.stacks[0].samples, 7);
        assert!((both.stacks[0].time - 0.75).abs() < 1e-12);
        assert_eq!(both.stacks[1].frames, vec![0, 1]);
        // The first run of the later part continues the last of the first.
        assert_eq!(
            both.timeline,
            vec![
                TimelineRun::from((0, 7, 0.75)),
                TimelineRun::from((1, 4, 0.5))
            ]
        );
        assert_eq!(both.sample_count, first.sample_count + 6);
        assert!((both.duration - (first.duration + 0.75)).abs() < 1e-12);
        assert_eq!(both.start_time, first.start_time.min(10.0));
        // Loads back as a valid profile.
        assert_eq!(Session::from_json(&both.to_json()).unwrap(), both);
    }

    #[test]
    fn combine_adds_cpu_times_only_when_both_parts_have_them() {
        let with_cpu = Session::from_json(&minimal_v3("[0.2]")).unwrap();
        let mut later = with_cpu.clone();
        later.frames.insert(0, FrameId::new("g", "b.py", 2));
        later.stacks = vec![
            StackRecord {
                frames: vec![1],
                time: 0.25,
                samples: 2,
            },
            StackRecord {
                frames: vec![0],
                time: 0.5,
                samples: 4,
            },
        ];
        later.timeline = vec![
            TimelineRun::from((0, 2, 0.25)),
            TimelineRun::from((1, 4, 0.5)),
        ];
        later.stack_cpu_times = vec![0.125, 0.25];
        later.thread_cpu_time = Some(0.375);
        let both = with_cpu.clone().combine(later.clone());
        assert!(both.cpu_known());
        assert_eq!(both.stack_cpu_times.len(), both.stacks.len());
        // f's stack: 0.2 before, 0.125 after; g's is new.
        assert!((both.stack_cpu_times[0] - 0.325).abs() < 1e-12);
        assert!((both.stack_cpu_times[1] - 0.25).abs() < 1e-12);
        assert!((both.thread_cpu_time.unwrap() - 0.575).abs() < 1e-12);
        assert_eq!(Session::from_json(&both.to_json()).unwrap(), both);
        // A part without CPU times: the whole has none, and still loads.
        let without = Session::from_json(&minimal_v2("[[0,5,0.5]]")).unwrap();
        let mixed = without.combine(later);
        assert!(!mixed.cpu_known());
        assert!(mixed.stack_cpu_times.is_empty() && mixed.thread_cpu_time.is_none());
        assert_eq!(Session::from_json(&mixed.to_json()).unwrap(), mixed);
    }

    #[test]
    fn documented_example_loads() {
        let doc = include_str!("../docs/json-format.md");
        let start = doc.find("```json\n").expect("an example") + "```json\n".len();
        let end = start + doc[start..].find("```").unwrap();
        let s = Session::from_json(&doc[start..end]).unwrap();
        assert_eq!(s.stacks.len(), 2);
        assert_eq!(s.frames[2].function, "sleep");
        // Its timeline is its stacks, in order.
        for (i, stack) in s.stacks.iter().enumerate() {
            let runs = s.timeline.iter().filter(|r| r.stack as usize == i);
            let samples: u64 = runs.clone().map(|r| r.samples as u64).sum();
            let time: f64 = runs.map(|r| r.time).sum();
            assert_eq!(samples, stack.samples);
            assert!((time - stack.time).abs() < 1e-12);
        }
    }

    #[test]
    fn rejects_other_versions_and_garbage() {
        let v5 = MINIMAL.replace("\"format_version\":1", "\"format_version\":5");
        match Session::from_json(&v5) {
            Err(Error::Load(m)) => {
                assert!(m.contains("unsupported profile format version 5"), "{}", m)
            }
            other => panic!("{:?}", other),
        }
        let none = MINIMAL.replace("\"format_version\":1,", "");
        assert!(
            matches!(Session::from_json(&none), Err(Error::Load(m)) if m.contains("no \"format_version\""))
        );
        assert!(
            matches!(Session::from_json("{"), Err(Error::Load(m)) if m.contains("invalid JSON"))
        );
        assert!(matches!(Session::from_json("[1]"), Err(Error::Load(_))));
        let missing = MINIMAL.replace("\"mode\":\"signal\",", "");
        assert!(matches!(Session::from_json(&missing), Err(Error::Load(m)) if m.contains("mode")));
        let bad_frame = MINIMAL.replace(
            "\"stacks\":[]",
            "\"stacks\":[{\"frames\":[0],\"time\":1,\"samples\":1}]",
        );
        assert!(
            matches!(Session::from_json(&bad_frame), Err(Error::Load(m)) if m.contains("refers to frame 0"))
        );
    }

    fn recording(frames: Vec<FrameId>, stacks: Vec<StackRecord>) -> Recording {
        let timeline = (0..stacks.len() as u32)
            .map(|i| {
                TimelineRun::from((
                    i,
                    stacks[i as usize].samples as u32,
                    stacks[i as usize].time,
                ))
            })
            .collect();
        Recording {
            stack_cpu_times: vec![0.0; stacks.len()],
            thread_cpu_time: 0.0,
            sample_count: stacks.iter().map(|s| s.samples).sum(),
            duration: stacks.iter().map(|s| s.time).sum(),
            frames,
            stacks,
            timeline,
            start_time: 0.0,
            cpu_time: 0.0,
            mode: Mode::Signal,
            interval: 0.001,
            notes: vec![],
            threads: Vec::new(),
        }
    }

    fn program(own_code_dirs: &[&str]) -> ProgramInfo {
        ProgramInfo {
            command_line: vec!["app.py".into()],
            python_version: "3.11.7".into(),
            sys_path: vec![],
            library_dirs: vec![],
            own_code_dirs: own_code_dirs.iter().map(|d| d.to_string()).collect(),
        }
    }

    #[test]
    fn pyinstrument_frames_in_the_middle_are_spliced_out() {
        let recording = recording(
            vec![
                FrameId::new("handler", "django/core/handlers/base.py", 1),
                FrameId::new(
                    "ProfilerMiddleware.__call__",
                    "<pyinstrument>/pyinstrument/middleware.py",
                    50,
                ),
                FrameId::new("view", "app/views.py", 3),
            ],
            vec![StackRecord {
                frames: vec![0, 1, 2],
                time: 0.5,
                samples: 5,
            }],
        );
        let stacks = without_own_frames(recording, &[]).stacks;
        assert_eq!(stacks[0].frames, [0, 2]);
    }

    /// An installed package's frames (plain python, not the runner) are
    /// known by its directory, which the program reports.
    #[test]
    fn frames_of_the_installed_package_are_left_out() {
        let site = "/venv/lib/python3.11/site-packages";
        let recording = recording(
            vec![
                FrameId::new(
                    "handler",
                    &format!("{site}/django/core/handlers/base.py"),
                    1,
                ),
                FrameId::new(
                    "ProfilerMiddleware.__call__",
                    &format!("{site}/pyinstrument/middleware.py"),
                    50,
                ),
                FrameId::new("view", "/app/views.py", 3),
                // Not the package: a sibling whose name only starts alike.
                FrameId::new("helper", &format!("{site}/pyinstrument_extra/x.py"), 1),
            ],
            vec![
                StackRecord {
                    frames: vec![0, 1, 2],
                    time: 0.5,
                    samples: 5,
                },
                StackRecord {
                    frames: vec![0, 1, 3],
                    time: 0.25,
                    samples: 2,
                },
            ],
        );
        let session = Session::from_recording(
            recording.clone(),
            program(&[&format!("{site}/pyinstrument")]),
        );
        let stacks: Vec<&[u32]> = session.stacks.iter().map(|s| &s.frames[..]).collect();
        assert_eq!(stacks, [&[0, 2][..], &[0, 3][..]]);
        // A trailing separator names the same directory.
        let session = Session::from_recording(
            recording.clone(),
            program(&[&format!("{site}/pyinstrument/")]),
        );
        assert_eq!(session.stacks[0].frames, [0, 2]);
        // Without the directory, the frames stay (they are not the runner's).
        let session = Session::from_recording(recording, program(&[]));
        assert_eq!(session.stacks[0].frames, [0, 1, 2]);
        assert_eq!(session.mode, "signal");
        assert_eq!(session.command_line, ["app.py"]);
    }

    #[test]
    fn pyinstrument_frames_are_cut_and_their_time_goes_to_the_caller() {
        let recording = Recording {
            frames: vec![
                FrameId::new("<module>", "app.py", 1),
                FrameId::new(
                    "Profiler.stop",
                    "<pyinstrument>/pyinstrument/profiler.py",
                    50,
                ),
                FrameId::new("work", "app.py", 3),
            ],
            stacks: vec![
                StackRecord {
                    frames: vec![0, 2],
                    time: 0.5,
                    samples: 5,
                },
                StackRecord {
                    frames: vec![0, 1],
                    time: 0.25,
                    samples: 2,
                },
                StackRecord {
                    frames: vec![0],
                    time: 0.125,
                    samples: 1,
                },
            ],
            // work, stop, <module>, stop, work
            timeline: [
                (0, 2, 0.25),
                (1, 1, 0.125),
                (2, 1, 0.125),
                (1, 1, 0.125),
                (0, 3, 0.25),
            ]
            .into_iter()
            .map(TimelineRun::from)
            .collect(),
            stack_cpu_times: vec![0.5, 0.125, 0.0],
            thread_cpu_time: 0.625,
            sample_count: 8,
            start_time: 0.0,
            duration: 0.875,
            cpu_time: 0.0,
            mode: Mode::Signal,
            interval: 0.001,
            notes: vec![],
            threads: Vec::new(),
        };
        let recording = without_own_frames(recording, &[]);
        // Profiler.stop's samples became <module>'s, next to <module>'s own:
        // one run.
        let module_only = recording
            .stacks
            .iter()
            .position(|s| s.frames == [0])
            .unwrap() as u32;
        let work = 1 - module_only;
        assert_eq!(
            recording.timeline,
            [(work, 2, 0.25), (module_only, 3, 0.375), (work, 3, 0.25)]
                .into_iter()
                .map(TimelineRun::from)
                .collect::<Vec<_>>()
        );
        let stacks = recording.stacks;
        assert_eq!(stacks.len(), 2);
        let module_only = stacks.iter().find(|s| s.frames == [0]).unwrap();
        assert_eq!(module_only.time, 0.375);
        assert_eq!(module_only.samples, 3);
        // Profiler.stop's CPU time went with its wall time.
        let module_index = stacks.iter().position(|s| s.frames == [0]).unwrap();
        assert_eq!(recording.stack_cpu_times[module_index], 0.125);
        assert_eq!(recording.stack_cpu_times[1 - module_index], 0.5);
        let total: f64 = stacks.iter().map(|s| s.time).sum();
        assert_eq!(total, 0.875);
    }
}
