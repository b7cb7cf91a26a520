//! pyinstrument 5's session files (`.pyisession`, `-r session`), read so
//! that users switching keep their old profiles: `--load old.pyisession`.
//!
//! Their JSON holds `frame_records`, the samples in the order they were
//! taken, each `[[frame, ...], seconds]`, outermost first; a frame is
//! `function\0file\0first_line`, then `\1`-separated attributes: `c` class
//! name, `l` current line, `h` `__tracebackhide__`. The first frame is the
//! thread (`MainThread\0<thread>\0id`). Profiles taken with the
//! `pyinstrument` command start with its own frames (its script, its
//! `__main__.main`, an `exec` of `<string>` and runpy's), which pyinstrument
//! 5 hides when rendering; they are dropped here, as our runner's never
//! reach a session.

use crate::error::{Error, Result};
use crate::sample::{merge_adjacent_runs, FrameId, StackRecord, TimelineRun};
use crate::session::{Session, FORMAT_VERSION};
use serde::Deserialize;
use std::collections::HashMap;

/// Our session JSON, or a pyinstrument 5 session file: whichever `text` is.
pub fn load(text: &str) -> Result<Session> {
    #[derive(Deserialize)]
    struct Probe {
        format_version: Option<serde::de::IgnoredAny>,
        frame_records: Option<serde::de::IgnoredAny>,
    }
    match serde_json::from_str::<Probe>(text) {
        Ok(Probe {
            format_version: None,
            frame_records: Some(_),
        }) => from_pyinstrument5(text),
        _ => Session::from_json(text),
    }
}

#[derive(Deserialize)]
struct PyiSession {
    frame_records: Vec<(Vec<String>, f64)>,
    start_time: f64,
    duration: f64,
    #[serde(default)]
    min_interval: Option<f64>,
    #[serde(default)]
    sample_count: Option<u64>,
    #[serde(default)]
    target_description: Option<String>,
    #[serde(default)]
    cpu_time: Option<f64>,
    #[serde(default)]
    sys_path: Vec<String>,
    #[serde(default)]
    sys_prefixes: Vec<String>,
}

/// Converts a pyinstrument 5 session file.
pub fn from_pyinstrument5(text: &str) -> Result<Session> {
    let old: PyiSession = serde_json::from_str(text)
        .map_err(|e| Error::Load(format!("invalid pyinstrument 5 session file: {e}")))?;
    let mut frames: Vec<FrameId> = Vec::new();
    let mut frame_index: HashMap<FrameId, u32> = HashMap::new();
    let mut stacks: Vec<StackRecord> = Vec::new();
    let mut stack_index: HashMap<Vec<u32>, u32> = HashMap::new();
    let mut timeline: Vec<TimelineRun> = Vec::new();
    for (record, (stack, time)) in old.frame_records.iter().enumerate() {
        if !(time.is_finite() && *time >= 0.0) {
            return Err(Error::Load(format!(
                "invalid pyinstrument 5 session file: frame record {record} has time {time}"
            )));
        }
        let parsed: Vec<FrameId> = stack
            .iter()
            .map(|f| parse_frame(f))
            .collect::<Result<Vec<_>>>()
            .map_err(|e| Error::Load(format!("{e} (frame record {record})")))?;
        let Some(program) = without_pyinstruments_frames(parsed) else {
            continue; // the command's own time, which pyinstrument 5 drops too
        };
        let ids: Vec<u32> = program
            .into_iter()
            .map(|frame| {
                *frame_index.entry(frame.clone()).or_insert_with(|| {
                    frames.push(frame);
                    (frames.len() - 1) as u32
                })
            })
            .collect();
        let stack_id = *stack_index.entry(ids.clone()).or_insert_with(|| {
            stacks.push(StackRecord {
                frames: ids,
                time: 0.0,
                samples: 0,
            });
            (stacks.len() - 1) as u32
        });
        let kept = &mut stacks[stack_id as usize];
        kept.time += time;
        kept.samples += 1;
        timeline.push(TimelineRun {
            stack: stack_id,
            samples: 1,
            time: *time,
        });
    }
    merge_adjacent_runs(&mut timeline);
    let description = old.target_description.unwrap_or_default();
    // pyinstrument 5's default is "Program: <argv>"; anything else was the
    // user's `target_description` and stays one.
    let (program, target_description) = match description.strip_prefix("Program: ") {
        Some(program) => (program, None),
        None if description.is_empty() => ("", None),
        None => ("", Some(description.clone())),
    };
    let mut library_dirs = old.sys_prefixes.clone();
    library_dirs.extend(
        old.sys_path
            .iter()
            .filter(|p| p.ends_with("site-packages") || p.ends_with("dist-packages"))
            .cloned(),
    );
    library_dirs.dedup();
    Ok(Session {
        format_version: FORMAT_VERSION,
        start_time: old.start_time,
        duration: old.duration,
        cpu_time: old.cpu_time.unwrap_or(0.0),
        sample_count: old.sample_count.unwrap_or(old.frame_records.len() as u64),
        interval: old.min_interval.unwrap_or(0.001),
        mode: "pyinstrument 5".to_string(),
        command_line: program.split_whitespace().map(str::to_string).collect(),
        python_version: String::new(),
        sys_path: old.sys_path,
        library_dirs,
        notes: vec!["Loaded from a pyinstrument 5 session file.".to_string()],
        frames,
        stacks,
        timeline,
        // pyinstrument 5 records wall time only.
        stack_cpu_times: Vec::new(),
        thread_cpu_time: None,
        target_description,
        threads: Vec::new(),
    })
}

/// `function\0file\0line[\1attr...]` as a frame; a method's class name
/// (attribute `c`) makes its qualified name, as ours are.
fn parse_frame(info: &str) -> Result<FrameId> {
    let (identifier, attributes) = info.split_once('\u{1}').unwrap_or((info, ""));
    let mut parts = identifier.split('\0');
    let (Some(function), Some(file), Some(line)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(Error::Load(format!(
            "invalid pyinstrument 5 session file: frame {info:?} is not function\\0file\\0line"
        )));
    };
    let mut frame = FrameId::new(function, file, line.parse().unwrap_or(0));
    for attribute in attributes.split('\u{1}') {
        if let Some(class) = attribute.strip_prefix('c') {
            if !class.is_empty() && !function.contains('.') {
                frame.function = format!("{class}.{function}");
            }
        } else if attribute == "h" {
            frame.hide_from_traceback = true;
        }
    }
    Ok(frame)
}

/// The stack without its thread frame and, when the `pyinstrument`
/// command took it, without the command's frames above the program. None
/// for a sample of nothing but the command (or the thread) itself, whose
/// time pyinstrument 5's report leaves out as well.
fn without_pyinstruments_frames(mut stack: Vec<FrameId>) -> Option<Vec<FrameId>> {
    stack.retain(|f| f.file != "<thread>");
    let is_main = |f: &FrameId| {
        let file = f.file.replace('\\', "/");
        file.ends_with("pyinstrument/__main__.py")
    };
    let Some(main) = stack.iter().position(is_main) else {
        return (!stack.is_empty()).then_some(stack);
    };
    let mut start = main + 1;
    if stack.get(start).is_some_and(|f| f.file == "<string>") {
        start += 1;
    }
    while stack
        .get(start)
        .is_some_and(|f| f.file == "<frozen runpy>" || f.file.ends_with("/runpy.py"))
    {
        start += 1;
    }
    (start < stack.len()).then(|| stack.split_off(start))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"{"start_time": 100.5, "duration": 0.004, "min_interval": 0.001,
        "max_interval": 0.001, "sample_count": 5,
        "target_description": "Program: demo.py arg", "cpu_time": 0.003,
        "sys_path": ["/app", "/py/lib/python3.11", "/venv/lib/python3.11/site-packages"],
        "sys_prefixes": ["/venv", "/py"],
        "frame_records": [
          [["MainThread\u0000<thread>\u00001", "<module>\u0000/venv/bin/pyinstrument\u00001\u0001l8",
            "main\u0000/venv/lib/python3.11/site-packages/pyinstrument/__main__.py\u000030\u0001l410",
            "<module>\u0000<string>\u00001\u0001l1", "run_path\u0000<frozen runpy>\u0000262\u0001l291",
            "_run_code\u0000<frozen runpy>\u000065\u0001l88",
            "<module>\u0000/app/demo.py\u00001\u0001l59", "work\u0000/app/demo.py\u000045\u0001l47"], 0.001],
          [["MainThread\u0000<thread>\u00001", "<module>\u0000/venv/bin/pyinstrument\u00001\u0001l8",
            "main\u0000/venv/lib/python3.11/site-packages/pyinstrument/__main__.py\u000030\u0001l410",
            "<module>\u0000<string>\u00001\u0001l1", "run_path\u0000<frozen runpy>\u0000262\u0001l291",
            "_run_code\u0000<frozen runpy>\u000065\u0001l88",
            "<module>\u0000/app/demo.py\u00001\u0001l59", "work\u0000/app/demo.py\u000045\u0001l48"], 0.001],
          [["MainThread\u0000<thread>\u00001", "<module>\u0000/venv/bin/pyinstrument\u00001\u0001l8",
            "main\u0000/venv/lib/python3.11/site-packages/pyinstrument/__main__.py\u000030\u0001l300"], 0.001],
          [["MainThread\u0000<thread>\u00001",
            "choice\u0000/py/lib/python3.11/random.py\u0000367\u0001cRandom\u0001l374\u0001h"], 0.001],
          [["MainThread\u0000<thread>\u00001", "<module>\u0000/venv/bin/pyinstrument\u00001\u0001l8",
            "main\u0000/venv/lib/python3.11/site-packages/pyinstrument/__main__.py\u000030\u0001l410",
            "<module>\u0000<string>\u00001\u0001l1", "run_path\u0000<frozen runpy>\u0000262\u0001l291",
            "_run_code\u0000<frozen runpy>\u000065\u0001l88",
            "<module>\u0000/app/demo.py\u00001\u0001l59", "work\u0000/app/demo.py\u000045\u0001l47"], 0.001]
        ]}"#;

    #[test]
    fn converts_frames_stacks_and_time_order() {
        let s = load(FILE).unwrap();
        let names: Vec<&str> = s.frames.iter().map(|f| f.function.as_str()).collect();
        assert_eq!(names, ["<module>", "work", "Random.choice"]);
        assert_eq!(s.frames[1].line, 45);
        assert!(s.frames[2].hide_from_traceback && !s.frames[1].hide_from_traceback);
        // Two records of one stack (lines differ, the function is one).
        assert_eq!(s.stacks.len(), 2);
        assert_eq!(s.stacks[0].frames, vec![0, 1]);
        assert_eq!(s.stacks[0].samples, 3);
        assert!((s.stacks[0].time - 0.003).abs() < 1e-12);
        assert_eq!(
            s.timeline,
            vec![
                TimelineRun::from((0, 2, 0.002)),
                TimelineRun::from((1, 1, 0.001)),
                TimelineRun::from((0, 1, 0.001)),
            ]
        );
        assert_eq!(s.command_line, ["demo.py", "arg"]);
        assert_eq!(s.target_description, None);
        let described = load(&FILE.replace("Program: demo.py arg", "Cell [3]")).unwrap();
        assert_eq!(described.target_description.as_deref(), Some("Cell [3]"));
        assert_eq!(s.sample_count, 5);
        // The sample of the command alone is left out, as pyinstrument 5 does.
        assert!(!s.frames.iter().any(|f| f.file.contains("pyinstrument")));
        assert!(s.library_dirs.contains(&"/py".to_string()));
        assert!(s
            .library_dirs
            .contains(&"/venv/lib/python3.11/site-packages".to_string()));
        // What it becomes is one of our sessions: it saves and loads.
        assert_eq!(Session::from_json(&s.to_json()).unwrap(), s);
    }

    #[test]
    fn our_own_json_still_loads_and_garbage_is_an_error() {
        let ours = Session::from_json(crate::session::tests::MINIMAL).unwrap();
        assert_eq!(load(&ours.to_json()).unwrap(), ours);
        let bad = r#"{"frame_records": [[["nonsense"], 0.1]], "start_time": 0, "duration": 0.1}"#;
        assert!(matches!(load(bad), Err(Error::Load(m)) if m.contains("function\\0file\\0line")));
        assert!(matches!(load("{"), Err(Error::Load(_))));
    }
}
