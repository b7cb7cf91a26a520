//! A deterministic synthetic session, shared by the headless-browser test
//! (tests/html_browser.rs) and the render benchmark (bench/render_bench.rs),
//! which include this file with `#[path]`.

use pyinstrument::sample::{FrameId, StackRecord};
use pyinstrument::session::{Session, FORMAT_VERSION};
use std::collections::HashSet;

/// A deterministic session of `distinct` different stacks sharing prefixes
/// like real programs do, `samples` samples in all (1 ms each).
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
        timeline: Vec::new(),
        frames,
        stacks,
    }
}
