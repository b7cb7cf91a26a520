//! speedscope's file format (https://www.speedscope.app/file-format-schema.json):
//! the shared frame table and one "sampled" profile with one sample per
//! distinct stack, weighted by its seconds.

use crate::session::Session;
use serde::Serialize;

pub const SCHEMA: &str = "https://www.speedscope.app/file-format-schema.json";

#[derive(Serialize)]
struct File<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    shared: Shared<'a>,
    profiles: Vec<Profile>,
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
struct Profile {
    #[serde(rename = "type")]
    kind: &'static str,
    name: String,
    unit: &'static str,
    #[serde(rename = "startValue")]
    start_value: f64,
    #[serde(rename = "endValue")]
    end_value: f64,
    samples: Vec<Vec<u32>>,
    weights: Vec<f64>,
}

pub fn render(session: &Session) -> String {
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
    let valid: Vec<_> = session
        .stacks
        .iter()
        .filter(|s| !s.frames.is_empty() && s.frames.iter().all(|&f| (f as usize) < nframes))
        .collect();
    let total: f64 = valid.iter().map(|s| s.time).sum();
    let name = if session.command_line.is_empty() {
        "pyinstrument profile".to_string()
    } else {
        session.command_line.join(" ")
    };
    let file = File {
        schema: SCHEMA,
        shared: Shared { frames },
        profiles: vec![Profile {
            kind: "sampled",
            name: name.clone(),
            unit: "seconds",
            start_value: 0.0,
            end_value: total,
            samples: valid.iter().map(|s| s.frames.clone()).collect(),
            weights: valid.iter().map(|s| s.time).collect(),
        }],
        name,
        active_profile_index: 0,
        exporter: "pyinstrument (Rust)".to_string(),
    };
    let mut out = serde_json::to_string(&file).expect("speedscope JSON serialises");
    out.push('\n');
    out
}
