//! Render benchmark: a synthetic session of 1 million samples over 100k
//! distinct stacks, timed through each renderer.
//!
//!     cargo run --release --example render_bench
//!
//! Goals: text < 0.3 s, HTML < 2 s, JSON save + load < 2 s.

use pyinstrument::render::{self, Format, RenderOptions};
use pyinstrument::sample::{FrameId, StackRecord};
use pyinstrument::session::{Session, FORMAT_VERSION};
use std::collections::HashSet;
use std::time::Instant;

/// `distinct` different stacks sharing prefixes like real programs do (a
/// few choices per level near the top, more below), `samples` in all.
/// The same shape as the headless-browser test's synthetic profile.
fn synthetic_session(distinct: usize, samples: u64) -> Session {
    let nframes = 2000u32;
    let frames: Vec<FrameId> = (0..nframes)
        .map(|i| {
            let file = if i % 3 == 0 {
                format!("/usr/lib/python3.11/lib{}/mod.py", i % 40)
            } else {
                format!("/app/pkg{}/mod.py", i % 40)
            };
            FrameId::new(&format!("function_{}", i), &file, i + 1)
        })
        .collect();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut seen = HashSet::new();
    let mut stacks = Vec::with_capacity(distinct);
    let per = samples / distinct as u64;
    while stacks.len() < distinct {
        let depth = 4 + (next() % 16) as usize;
        let mut fr = vec![0u32, 1];
        for d in 2..depth {
            let fan = if d < 6 { 4 } else { 12 };
            fr.push(2 + ((d as u64 * 97 + next() % fan) % (nframes as u64 - 2)) as u32);
        }
        if seen.insert(fr.clone()) {
            stacks.push(StackRecord {
                frames: fr,
                time: per as f64 * 0.001,
                samples: per,
            });
        }
    }
    Session {
        format_version: FORMAT_VERSION,
        start_time: 0.0,
        duration: samples as f64 * 0.001,
        cpu_time: samples as f64 * 0.0009,
        sample_count: samples,
        interval: 0.001,
        mode: "signal".to_string(),
        command_line: vec!["synthetic.py".to_string()],
        python_version: "3.11.4".to_string(),
        sys_path: vec!["/app".to_string(), "/usr/lib/python3.11".to_string()],
        library_dirs: vec!["/usr/lib/python3.11".to_string()],
        notes: vec![],
        frames,
        stacks,
    }
}

/// Times `f`; `goal` is the brief's target, where there is one.
fn time<T>(label: &str, goal: Option<f64>, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    let secs = start.elapsed().as_secs_f64();
    match goal {
        Some(goal) => {
            let verdict = if secs < goal { "ok" } else { "OVER GOAL" };
            println!(
                "{:<34} {:>8.3} s   (goal < {} s: {})",
                label, secs, goal, verdict
            );
        }
        None => println!("{:<34} {:>8.3} s", label, secs),
    }
    out
}

fn main() {
    let session = synthetic_session(100_000, 1_000_000);
    let nodes = pyinstrument::tree::build(&session).count();
    println!(
        "synthetic session: {} samples, {} distinct stacks, {} tree nodes",
        session.sample_count,
        session.stacks.len(),
        nodes
    );
    let opts = RenderOptions {
        unicode: true,
        color: true,
        show_all: false,
    };
    let all = RenderOptions {
        show_all: true,
        ..opts.clone()
    };
    let text = time("text", Some(0.3), || {
        render::render(&session, Format::Text, &opts)
    });
    let html = time("html", Some(2.0), || {
        render::render(&session, Format::Html, &opts)
    });
    let html_all = time("html (show_all: every node)", None, || {
        render::render(&session, Format::Html, &all)
    });
    let json = time("json save + load", Some(2.0), || {
        let text = session.to_json();
        let loaded = Session::from_json(&text).expect("loads");
        assert_eq!(loaded.stacks.len(), session.stacks.len());
        text
    });
    let speedscope = time("speedscope", None, || {
        render::render(&session, Format::Speedscope, &opts)
    });
    let collapsed = time("collapsed", None, || {
        render::render(&session, Format::Collapsed, &opts)
    });
    let text_all = time("text (show_all: every node)", None, || {
        render::render(&session, Format::Text, &all)
    });
    println!(
        "sizes: text {} KiB, html {} KiB, html show_all {} KiB, json {} KiB, speedscope {} KiB, collapsed {} KiB, text show_all {} KiB",
        text.len() / 1024,
        html.len() / 1024,
        html_all.len() / 1024,
        json.len() / 1024,
        speedscope.len() / 1024,
        collapsed.len() / 1024,
        text_all.len() / 1024
    );
}
