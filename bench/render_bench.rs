//! Render benchmark: a synthetic session of 1 million samples over 100k
//! distinct stacks, timed through each renderer.
//!
//!     cargo run --release --example render_bench
//!
//! Goals: text < 0.3 s, HTML < 2 s, JSON save + load < 2 s, the
//! time-ordered tree (`timeline::build`) and speedscope < 1 s. The session's
//! timeline is in program order (see tests/support/synthetic_session.rs);
//! the same samples in a scrambled order are timed too, as a worst case.

#[path = "../tests/support/synthetic_session.rs"]
mod synthetic_session;

use pyinstrument::render::{self, Format, RenderOptions};
use pyinstrument::session::Session;
use std::time::Instant;
use synthetic_session::{scramble_timeline, synthetic_session};

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
    let timeline_nodes = pyinstrument::timeline::build(&session).count();
    println!(
        "synthetic session: {} samples, {} distinct stacks, {} tree nodes, {} timeline runs, {} timeline tree nodes",
        session.sample_count,
        session.stacks.len(),
        nodes,
        session.timeline.len(),
        timeline_nodes
    );
    let opts = RenderOptions {
        unicode: true,
        color: true,
        ..Default::default()
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
        assert_eq!(loaded.timeline.len(), session.timeline.len());
        text
    });
    time("timeline::build (the -t tree)", Some(1.0), || {
        pyinstrument::timeline::build(&session)
    });
    let mut scrambled = session.clone();
    scramble_timeline(&mut scrambled);
    let scrambled_nodes = time("timeline::build, scrambled order", None, || {
        pyinstrument::timeline::build(&scrambled).count()
    });
    time("timeline::build_pruned 1%, scrambled", None, || {
        pyinstrument::timeline::build_pruned(
            &scrambled,
            0.01 * pyinstrument::tree::total_time(&scrambled),
        )
        .count()
    });
    println!(
        "  (scrambled: {} runs, {} timeline tree nodes)",
        scrambled.timeline.len(),
        scrambled_nodes
    );
    let speedscope = time("speedscope (time-ordered)", Some(1.0), || {
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
