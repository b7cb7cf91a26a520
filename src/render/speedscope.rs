//! speedscope's file format (https://www.speedscope.app/file-format-schema.json):
//! the shared frame table and one "sampled" profile whose samples are the
//! session's timeline, in the order they were taken, each weighted by its
//! seconds. A run of consecutive samples of one stack is one sample of the
//! run's weight (speedscope merges adjacent identical stacks anyway), so the
//! "Time Order" view shows the program's calls as they happened and the
//! "Left Heavy" view the aggregate.
//!
//! A session that recorded CPU time per stack gets a second "sampled"
//! profile, weighted by the profiled thread's CPU seconds: one sample per
//! distinct stack (the recorder logs the order with wall time only), so
//! its "Left Heavy" view is where the thread ran rather than waited.
//!
//! A session whose order is unknown (a version-1 profile) is written as
//! before the timeline existed, one sample per distinct stack, and the
//! profile's name says that the order is not the program's.

use crate::session::Session;
use serde::Serialize;

pub const SCHEMA: &str = "https://www.speedscope.app/file-format-schema.json";
/// Appended to the profile's name when the order of samples is unknown.
pub const ORDER_UNKNOWN: &str = " (order unknown: one sample per distinct stack)";
/// Appended to the name of the CPU-time profile.
pub const CPU_PROFILE: &str = " (CPU time of the profiled thread, one sample per distinct stack)";

#[derive(Serialize)]
struct File<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    shared: Shared<'a>,
    profiles: Vec<Profile<'a>>,
    name: String,
    #[serde(rename = "activeProfileIndex")]
    active_profile_index: usize,
    exporter: String,
}

#[derive(Serialize)]
struct Shared<'a> {
    frames: Vec<Frame<'a>>,
}

#[derive(Serialize)]
struct Frame<'a> {
    name: &'a str,
    file: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<u32>,
}

#[derive(Serialize)]
struct Profile<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    name: String,
    unit: &'static str,
    #[serde(rename = "startValue")]
    start_value: f64,
    #[serde(rename = "endValue")]
    end_value: f64,
    samples: Vec<&'a [u32]>,
    weights: Vec<f64>,
}

pub fn write(session: &Session, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let nframes = session.frames.len();
    let frames = session
        .frames
        .iter()
        .map(|f| Frame {
            name: &f.function,
            file: &f.file,
            line: if f.is_builtin() { None } else { Some(f.line) },
        })
        .collect();
    let valid = |stack: usize| {
        session
            .stacks
            .get(stack)
            .filter(|s| !s.frames.is_empty() && s.frames.iter().all(|&f| (f as usize) < nframes))
    };
    let (samples, weights): (Vec<&[u32]>, Vec<f64>) = if session.time_order_known() {
        session
            .timeline
            .iter()
            .filter_map(|run| valid(run.stack as usize).map(|s| (s.frames.as_slice(), run.time)))
            .unzip()
    } else {
        (0..session.stacks.len())
            .filter_map(|i| valid(i).map(|s| (s.frames.as_slice(), s.time)))
            .unzip()
    };
    let total: f64 = weights.iter().sum();
    let name = if session.command_line.is_empty() {
        "pyinstrument profile".to_string()
    } else {
        session.command_line.join(" ")
    };
    let profile_name = if session.time_order_known() {
        name.clone()
    } else {
        format!("{name}{ORDER_UNKNOWN}")
    };
    let mut profiles = vec![Profile {
        kind: "sampled",
        name: profile_name,
        unit: "seconds",
        start_value: 0.0,
        end_value: total,
        samples,
        weights,
    }];
    if session.cpu_known() {
        let (samples, weights): (Vec<&[u32]>, Vec<f64>) = (0..session.stacks.len())
            .filter_map(|i| valid(i).map(|s| (s.frames.as_slice(), session.stack_cpu_times[i])))
            .unzip();
        profiles.push(Profile {
            kind: "sampled",
            name: format!("{name}{CPU_PROFILE}"),
            unit: "seconds",
            start_value: 0.0,
            end_value: weights.iter().sum(),
            samples,
            weights,
        });
    }
    let file = File {
        schema: SCHEMA,
        shared: Shared { frames },
        profiles,
        name,
        active_profile_index: 0,
        exporter: "pyinstrument (Rust)".to_string(),
    };
    serde_json::to_writer(&mut *out, &file)?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(session: &Session) -> String {
        let mut out = Vec::new();
        write(session, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }
    use crate::sample::{FrameId, StackRecord, TimelineRun};
    use serde_json::Value;

    /// main>f, main>g, main>f again, as a version-2 session.
    fn session() -> Session {
        let mut s: Session = serde_json::from_str(crate::session::tests::MINIMAL).unwrap();
        s.frames = vec![
            FrameId::new("main", "app.py", 1),
            FrameId::new("f", "app.py", 5),
            FrameId::new("g", "app.py", 9),
        ];
        s.stacks = vec![
            StackRecord {
                frames: vec![0, 1],
                time: 0.5,
                samples: 5,
            },
            StackRecord {
                frames: vec![0, 2],
                time: 0.25,
                samples: 2,
            },
        ];
        s.timeline = [(0, 2, 0.25), (1, 2, 0.25), (0, 3, 0.25)]
            .into_iter()
            .map(TimelineRun::from)
            .collect();
        s
    }

    /// Checks `file` against speedscope's file-format schema (the fields it
    /// requires and their types; see SCHEMA) and what the format means
    /// beyond it: one weight per sample, frame indexes in range, the
    /// profile's span equal to its weights. Returns the first profile.
    pub(crate) fn check_schema(file: &Value) -> &Value {
        assert_eq!(file["$schema"], SCHEMA);
        let frames = file["shared"]["frames"].as_array().expect("shared.frames");
        for frame in frames {
            assert!(frame["name"].is_string(), "{frame}");
            assert!(frame.get("file").is_none_or(Value::is_string), "{frame}");
            assert!(frame.get("line").is_none_or(Value::is_number), "{frame}");
        }
        let profiles = file["profiles"].as_array().expect("profiles");
        assert!(file["name"].is_string() && file["activeProfileIndex"].is_number());
        for profile in profiles {
            assert_eq!(profile["type"], "sampled");
            assert!(profile["name"].is_string());
            let unit = profile["unit"].as_str().unwrap();
            assert!([
                "bytes",
                "microseconds",
                "milliseconds",
                "nanoseconds",
                "none",
                "seconds"
            ]
            .contains(&unit));
            let start = profile["startValue"].as_f64().unwrap();
            let end = profile["endValue"].as_f64().unwrap();
            let samples = profile["samples"].as_array().unwrap();
            let weights = profile["weights"].as_array().unwrap();
            assert_eq!(samples.len(), weights.len());
            for sample in samples {
                for index in sample.as_array().unwrap() {
                    assert!((index.as_u64().unwrap() as usize) < frames.len());
                }
            }
            let sum: f64 = weights.iter().map(|w| w.as_f64().unwrap()).sum();
            assert!(end >= start && (end - start - sum).abs() < 1e-9);
        }
        &profiles[0]
    }

    #[test]
    fn samples_follow_the_timeline_in_order() {
        let out: Value = serde_json::from_str(&render(&session())).unwrap();
        let profile = check_schema(&out);
        assert_eq!(profile["name"], "demo.py");
        assert_eq!(
            profile["samples"],
            serde_json::json!([[0, 1], [0, 2], [0, 1]])
        );
        assert_eq!(profile["weights"], serde_json::json!([0.25, 0.25, 0.25]));
        assert_eq!(profile["endValue"], 0.75);
    }

    #[test]
    fn an_unknown_order_falls_back_to_one_sample_per_stack_and_says_so() {
        let mut s = session();
        s.timeline.clear();
        let out: Value = serde_json::from_str(&render(&s)).unwrap();
        let profile = check_schema(&out);
        assert_eq!(profile["name"], format!("demo.py{ORDER_UNKNOWN}"));
        assert_eq!(profile["samples"], serde_json::json!([[0, 1], [0, 2]]));
        assert_eq!(profile["weights"], serde_json::json!([0.5, 0.25]));
        // The file's own name stays the program's.
        assert_eq!(out["name"], "demo.py");
    }

    #[test]
    fn cpu_time_is_a_second_profile_of_one_sample_per_stack() {
        let mut s = session();
        // Without CPU times: one profile.
        let out: Value = serde_json::from_str(&render(&s)).unwrap();
        assert_eq!(out["profiles"].as_array().unwrap().len(), 1);
        s.stack_cpu_times = vec![0.375, 0.0];
        s.thread_cpu_time = Some(0.375);
        let out: Value = serde_json::from_str(&render(&s)).unwrap();
        check_schema(&out);
        let profiles = out["profiles"].as_array().unwrap();
        assert_eq!(profiles.len(), 2);
        // The wall-clock profile first, unchanged.
        assert_eq!(
            profiles[0]["weights"],
            serde_json::json!([0.25, 0.25, 0.25])
        );
        assert_eq!(profiles[1]["name"], format!("demo.py{CPU_PROFILE}"));
        assert_eq!(profiles[1]["samples"], serde_json::json!([[0, 1], [0, 2]]));
        assert_eq!(profiles[1]["weights"], serde_json::json!([0.375, 0.0]));
        assert_eq!(profiles[1]["endValue"], 0.375);
    }

    #[test]
    fn an_empty_session_is_a_valid_empty_profile() {
        let s: Session = serde_json::from_str(crate::session::tests::MINIMAL).unwrap();
        let out: Value = serde_json::from_str(&render(&s)).unwrap();
        let profile = check_schema(&out);
        assert_eq!(profile["samples"], serde_json::json!([]));
        assert_eq!(profile["name"], "demo.py");
    }
}
