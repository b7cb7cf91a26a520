//! A deterministic synthetic session, shared by the headless-browser test
//! (tests/html_browser.rs) and the render benchmark (bench/render_bench.rs),
//! which include this file with `#[path]`.

use pyinstrument::sample::{FrameId, StackRecord, TimelineRun};
use pyinstrument::session::{Session, FORMAT_VERSION};
use std::collections::HashSet;

/// A deterministic session of `distinct` different stacks sharing prefixes
/// like real programs do, `samples` samples in all (1 ms each), with a
/// timeline in program order: the program goes through its call tree
/// three times (depth first, as calls happen), each time taking a third of
/// every stack's samples in one run, so consecutive samples share long
/// prefixes and every function is called again in each pass.
pub fn synthetic_session(distinct: usize, samples: u64) -> Session {
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
    let mut order: Vec<u32> = (0..stacks.len() as u32).collect();
    order.sort_by(|&a, &b| stacks[a as usize].frames.cmp(&stacks[b as usize].frames));
    let passes = 3u64;
    let mut timeline: Vec<TimelineRun> = Vec::with_capacity(stacks.len() * passes as usize);
    for pass in 0..passes {
        for &stack in &order {
            // per = 10: runs of 4, 3 and 3 samples.
            let samples = per / passes + u64::from(pass < per % passes);
            if samples > 0 {
                timeline.push(TimelineRun {
                    stack,
                    samples: samples as u32,
                    time: samples as f64 * 0.001,
                });
            }
        }
    }
    pyinstrument::sample::merge_adjacent_runs(&mut timeline);
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
        timeline,
        stack_cpu_times: Vec::new(),
        thread_cpu_time: None,
        target_description: None,
        threads: Vec::new(),
        frames,
        stacks,
    }
}

/// The worst order for a timeline: the same runs split further (1 to 4
/// samples each) and scrambled, so consecutive samples share little and
/// the time-ordered tree has a node for nearly every frame of every run.
#[allow(dead_code)]
pub fn scramble_timeline(session: &mut Session) {
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut runs: Vec<TimelineRun> = Vec::new();
    for run in &session.timeline {
        let mut left = run.samples;
        while left > 0 {
            let samples = ((1 + next() % 4) as u32).min(left);
            runs.push(TimelineRun {
                stack: run.stack,
                samples,
                time: samples as f64 * 0.001,
            });
            left -= samples;
        }
    }
    for i in (1..runs.len()).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        runs.swap(i, j);
    }
    pyinstrument::sample::merge_adjacent_runs(&mut runs);
    session.timeline = runs;
}
