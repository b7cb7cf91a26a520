//! Running a fixture under plain python and under the profiler in either
//! mode, and reading the JSON report the profiler wrote.

use super::{pyinstrument, python, Output, Run, TempDir, TIMEOUT};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mode {
    Signal,
    Setprofile,
}

pub const MODES: [Mode; 2] = [Mode::Signal, Mode::Setprofile];

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Signal => "signal",
            Mode::Setprofile => "setprofile",
        }
    }
}

/// Runs `program args` in `cwd` (the harness's environment and timeout).
pub fn run(program: &Path, args: &[String], cwd: &Path) -> Output {
    run_with_timeout(program, args, cwd, TIMEOUT)
}

pub fn run_with_timeout(program: &Path, args: &[String], cwd: &Path, timeout: Duration) -> Output {
    Run::new(program, cwd).args(args).timeout(timeout).output()
}

/// `python script args` in the work dir.
pub fn run_python(dir: &TempDir, script: &str, args: &[&str]) -> Output {
    let mut all = vec![script.to_string()];
    all.extend(args.iter().map(|s| s.to_string()));
    run(&python(), &all, dir.path())
}

/// `pyinstrument [--setprofile] [--interval I] -r json -o FILE script args`:
/// the run's output and the parsed report (None when no report was written).
pub fn run_profiled(
    dir: &TempDir,
    mode: Mode,
    interval: Option<f64>,
    script: &str,
    args: &[&str],
) -> (Output, Option<Profile>) {
    run_profiled_with_timeout(dir, mode, interval, script, args, TIMEOUT)
}

pub fn run_profiled_with_timeout(
    dir: &TempDir,
    mode: Mode,
    interval: Option<f64>,
    script: &str,
    args: &[&str],
    timeout: Duration,
) -> (Output, Option<Profile>) {
    static N: AtomicUsize = AtomicUsize::new(0);
    let report = dir.join(format!(
        "report-{}-{}.json",
        mode.name(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let mut all: Vec<String> = Vec::new();
    if mode == Mode::Setprofile {
        all.push("--setprofile".into());
    }
    if let Some(i) = interval {
        all.push("--interval".into());
        all.push(format!("{i}"));
    }
    all.extend([
        "-r".to_string(),
        "json".to_string(),
        "-o".to_string(),
        report.display().to_string(),
    ]);
    all.push(script.to_string());
    all.extend(args.iter().map(|s| s.to_string()));
    let output = run_with_timeout(&pyinstrument(), &all, dir.path(), timeout);
    let profile = std::fs::read_to_string(&report).ok().map(|text| {
        Profile::parse(&text).unwrap_or_else(|e| {
            panic!(
                "{}: unreadable JSON report ({e}): {}",
                output.description,
                super::excerpt(text.as_bytes())
            )
        })
    });
    (output, profile)
}

/// Like [`run_profiled`] but insists on exit status 0 and a report.
pub fn profile_ok(
    dir: &TempDir,
    mode: Mode,
    interval: Option<f64>,
    script: &str,
    args: &[&str],
) -> (Output, Profile) {
    let (output, profile) = run_profiled(dir, mode, interval, script, args);
    assert_eq!(
        output.code(),
        0,
        "[{}] the profiled program failed:\n{}",
        mode.name(),
        output.describe()
    );
    let profile = profile.unwrap_or_else(|| {
        panic!(
            "[{}] no report written:\n{}",
            mode.name(),
            output.describe()
        )
    });
    (output, profile)
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Frame {
    pub function: String,
    pub file: String,
    pub line: u64,
}

#[derive(Clone, Debug)]
pub struct Stack {
    /// Outermost first.
    pub frames: Vec<Frame>,
    pub time: f64,
    pub samples: u64,
    /// The profiled thread's CPU seconds in this stack (`stack_cpu_times`).
    pub cpu: Option<f64>,
}

impl Stack {
    /// The functions of its frames in files named `file_name` (the
    /// application's own code), outermost first.
    pub fn app_path(&self, file_name: &str) -> Vec<String> {
        self.frames
            .iter()
            .filter(|f| is_file(&f.file, file_name))
            .map(|f| f.function.clone())
            .collect()
    }
}

/// The JSON report, decoded.
#[derive(Clone, Debug)]
pub struct Profile {
    pub duration: f64,
    pub sample_count: u64,
    pub mode: String,
    pub notes: Vec<String>,
    pub frames: Vec<Frame>,
    pub stacks: Vec<Stack>,
    pub raw: Value,
}

impl Profile {
    pub fn parse(text: &str) -> Result<Profile, String> {
        let raw: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        Profile::from_value(raw)
    }

    pub fn from_value(raw: Value) -> Result<Profile, String> {
        let num = |k: &str| {
            raw.get(k)
                .and_then(Value::as_f64)
                .ok_or(format!("no number {k:?}"))
        };
        let frames: Vec<Frame> = raw
            .get("frames")
            .and_then(Value::as_array)
            .ok_or("no frames")?
            .iter()
            .map(|f| Frame {
                function: f
                    .get("function")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_string(),
                file: f
                    .get("file")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_string(),
                line: f.get("line").and_then(Value::as_u64).unwrap_or(0),
            })
            .collect();
        let cpu_times = raw.get("stack_cpu_times").and_then(Value::as_array);
        let mut stacks = Vec::new();
        for (n, s) in raw
            .get("stacks")
            .and_then(Value::as_array)
            .ok_or("no stacks")?
            .iter()
            .enumerate()
        {
            let mut path = Vec::new();
            for index in s
                .get("frames")
                .and_then(Value::as_array)
                .ok_or("stack without frames")?
            {
                let i = index.as_u64().ok_or("bad frame index")? as usize;
                path.push(
                    frames
                        .get(i)
                        .cloned()
                        .ok_or(format!("frame index {i} out of range"))?,
                );
            }
            stacks.push(Stack {
                frames: path,
                time: s
                    .get("time")
                    .and_then(Value::as_f64)
                    .ok_or("stack without time")?,
                samples: s.get("samples").and_then(Value::as_u64).unwrap_or(0),
                cpu: cpu_times.and_then(|c| c.get(n)).and_then(Value::as_f64),
            });
        }
        Ok(Profile {
            duration: num("duration")?,
            sample_count: num("sample_count")? as u64,
            mode: raw
                .get("mode")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            notes: raw
                .get("notes")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|n| n.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            frames,
            stacks,
            raw,
        })
    }

    pub fn total_time(&self) -> f64 {
        self.stacks.iter().map(|s| s.time).sum()
    }

    /// Every stack reduced to the frames of files named `file_name` (the
    /// application's own code), with the times of equal reduced stacks
    /// added up: "self time" per application path.
    pub fn app_paths(&self, file_name: &str) -> BTreeMap<Vec<String>, f64> {
        let mut out = BTreeMap::new();
        for s in &self.stacks {
            *out.entry(s.app_path(file_name)).or_insert(0.0) += s.time;
        }
        out
    }

    /// Total time of the stacks whose application path contains `want`
    /// as a contiguous run (matched with [`name_matches`]).
    pub fn time_under(&self, file_name: &str, want: &[&str]) -> f64 {
        self.app_paths(file_name)
            .iter()
            .filter(|(path, _)| find_run(path, want).is_some())
            .map(|(_, t)| *t)
            .sum()
    }

    /// Total CPU time (`stack_cpu_times`) of the stacks whose application
    /// path contains `want`, like [`Profile::time_under`]; `None` when the
    /// report has no CPU time per stack.
    pub fn cpu_under(&self, file_name: &str, want: &[&str]) -> Option<f64> {
        let mut total = 0.0;
        for s in &self.stacks {
            if find_run(&s.app_path(file_name), want).is_some() {
                total += s.cpu?;
            }
        }
        Some(total)
    }

    /// All function names seen, with their files.
    pub fn function_names(&self) -> BTreeSet<String> {
        self.frames.iter().map(|f| f.function.clone()).collect()
    }

    /// A readable dump of the application paths, for failure messages.
    pub fn dump(&self, file_name: &str) -> String {
        let mut lines = vec![format!(
            "mode {} duration {:.3} samples {} notes {:?}",
            self.mode, self.duration, self.sample_count, self.notes
        )];
        let mut paths: Vec<(Vec<String>, f64)> = self.app_paths(file_name).into_iter().collect();
        paths.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap());
        for (path, time) in paths.iter().take(40) {
            lines.push(format!("  {:.4}  {}", time, path.join(" > ")));
        }
        lines.join("\n")
    }
}

/// Whether a reported file is the fixture `file_name` (reports may give it
/// relative or absolute).
pub fn is_file(reported: &str, file_name: &str) -> bool {
    reported == file_name || reported.ends_with(&format!("/{file_name}"))
}

/// A reported function name matches an expected one: equal, or, where the
/// version reports qualified names, ending in `.expected` (so `<lambda>`
/// matches `run_lambda.<locals>.<lambda>`).
pub fn name_matches(reported: &str, expected: &str) -> bool {
    reported == expected || reported.ends_with(&format!(".{expected}"))
}

/// Where `want` occurs as a contiguous run in `path`.
pub fn find_run(path: &[String], want: &[&str]) -> Option<usize> {
    if want.is_empty() || want.len() > path.len() {
        return None;
    }
    (0..=path.len() - want.len())
        .find(|&i| want.iter().zip(&path[i..]).all(|(w, p)| name_matches(p, w)))
}
