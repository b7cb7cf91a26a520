//! The recorder's tests: aggregation, code object reuse, overflow, the
//! time-order log.

use super::timeline::LoggedRun;
use super::*;
use crate::ffi::stack::LiveStr;
use crate::sample::{FrameId, StackRecord};

fn frame(code_addr: usize, name: &'static str, line: i32) -> LiveFrame<'static> {
    LiveFrame::simulated(
        code_addr,
        line,
        LiveStr::latin1(name.as_bytes()),
        LiveStr::latin1(b"app.py"),
    )
}

/// Records a stack given outermost first, as a test reads best. A new
/// code generation every sample: no level is trusted without proof.
fn sample(recorder: &mut Recorder, outermost_first: &[LiveFrame<'static>], now_ns: u64) {
    sample_in(recorder, outermost_first, Some(now_ns), now_ns);
}

fn sample_in(
    recorder: &mut Recorder,
    outermost_first: &[LiveFrame<'static>],
    code_generation: Option<u64>,
    now_ns: u64,
) {
    recorder.record(
        outermost_first.len(),
        |i| outermost_first[i],
        code_generation,
        0,
        None,
        now_ns,
    );
}

/// Every stack as its frames' labels, with its sample count, sorted.
fn stacks_labelled(
    aggregate: &Aggregate,
    label: impl Fn(&FrameId) -> String,
) -> Vec<(Vec<String>, u64)> {
    let mut all: Vec<(Vec<String>, u64)> = aggregate
        .stacks
        .iter()
        .map(|s| {
            let labels = s
                .frames
                .iter()
                .map(|&f| label(&aggregate.frames[f as usize]))
                .collect();
            (labels, s.samples)
        })
        .collect();
    all.sort();
    all
}

/// Every stack as its function names, with its sample count, sorted.
fn stacks_by_name(aggregate: &Aggregate) -> Vec<(Vec<String>, u64)> {
    stacks_labelled(aggregate, |frame| frame.function.clone())
}

fn owned(names: &[&str], samples: u64) -> (Vec<String>, u64) {
    (names.iter().map(|s| s.to_string()).collect(), samples)
}

fn names(aggregate: &Aggregate, stack: &StackRecord) -> Vec<String> {
    stack
        .frames
        .iter()
        .map(|&f| aggregate.frames[f as usize].function.clone())
        .collect()
}

#[test]
fn identical_stacks_aggregate_and_times_add_up_to_the_wall_time() {
    let mut recorder = Recorder::new(1_000, 0);
    let stack = [frame(0x10, "main", 1), frame(0x20, "work", 5)];
    sample(&mut recorder, &stack, 2_000);
    sample(&mut recorder, &stack, 3_500);
    sample(&mut recorder, &[frame(0x10, "main", 1)], 4_000);
    recorder.finish(4_250, 0);
    let aggregate = recorder.into_aggregate();
    assert_eq!(aggregate.sample_count, 3);
    assert_eq!(aggregate.stacks.len(), 2);
    let work = aggregate
        .stacks
        .iter()
        .find(|s| names(&aggregate, s) == ["main", "work"])
        .unwrap();
    assert_eq!(work.samples, 2);
    assert!((work.time - 2_500e-9).abs() < 1e-15);
    let total: f64 = aggregate.stacks.iter().map(|s| s.time).sum();
    assert!((total - 3_250e-9).abs() < 1e-15, "total {total}");
}

#[test]
fn a_reused_code_address_with_another_name_is_another_frame() {
    let mut recorder = Recorder::new(0, 0);
    sample(&mut recorder, &[frame(0x10, "f1", 1)], 10);
    // The code object was freed and a new one took its address.
    sample(&mut recorder, &[frame(0x10, "f2", 1)], 20);
    sample(&mut recorder, &[frame(0x10, "f1", 2)], 30);
    let aggregate = recorder.into_aggregate();
    let mut seen: Vec<(String, u32)> = aggregate
        .frames
        .iter()
        .map(|f| (f.function.clone(), f.line))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("f1".to_string(), 1),
            ("f1".to_string(), 2),
            ("f2".to_string(), 1)
        ]
    );
}

#[test]
fn the_same_function_compiled_twice_is_merged_into_one_frame() {
    let mut recorder = Recorder::new(0, 0);
    sample(&mut recorder, &[frame(0x10, "f", 1)], 10);
    sample(&mut recorder, &[frame(0x90, "f", 1)], 20);
    let aggregate = recorder.into_aggregate();
    assert_eq!(aggregate.stacks.len(), 1);
    assert_eq!(aggregate.stacks[0].samples, 2);
}

#[test]
fn a_sample_without_python_frames_gives_its_time_to_the_next() {
    let mut recorder = Recorder::new(0, 0);
    sample(&mut recorder, &[], 100);
    sample(&mut recorder, &[frame(0x10, "main", 1)], 300);
    let aggregate = recorder.into_aggregate();
    assert_eq!(aggregate.sample_count, 1);
    assert!((aggregate.stacks[0].time - 300e-9).abs() < 1e-15);
}

#[test]
fn skipped_frames_and_builtin_leaves() {
    let mut recorder = Recorder::new(0, 0);
    let outermost_first = [frame(0x10, "main", 1), frame(0x30, "callee", 9)];
    recorder.record(2, |i| outermost_first[i], Some(1), 1, Some(b"sleep"), 10);
    // The same stack again: the leaf must not be taken for a prefix.
    recorder.record(2, |i| outermost_first[i], Some(1), 1, Some(b"sleep"), 20);
    recorder.record(2, |i| outermost_first[i], Some(1), 0, None, 30);
    let aggregate = recorder.into_aggregate();
    let got = stacks_by_name(&aggregate);
    assert_eq!(
        got,
        vec![owned(&["main", "callee"], 1), owned(&["main", "sleep"], 2)]
    );
    let with_leaf = aggregate.stacks.iter().find(|s| s.samples == 2).unwrap();
    let leaf = &aggregate.frames[*with_leaf.frames.last().unwrap() as usize];
    assert!(leaf.is_builtin());
}

#[test]
fn full_tables_cut_stacks_short_but_keep_their_time() {
    // Room for the root and three stack nodes: a, a>b, a>c.
    let mut recorder = Recorder::with_capacity(0, 16, 4, 1024, 64);
    sample(
        &mut recorder,
        &[frame(0x10, "a", 1), frame(0x20, "b", 1)],
        10,
    );
    sample(
        &mut recorder,
        &[frame(0x10, "a", 1), frame(0x30, "c", 1)],
        20,
    );
    sample(
        &mut recorder,
        &[frame(0x10, "a", 1), frame(0x40, "d", 1)],
        30,
    );
    recorder.finish(40, 0);
    let aggregate = recorder.into_aggregate();
    assert_eq!(aggregate.overflowed_samples, 1);
    let total: f64 = aggregate.stacks.iter().map(|s| s.time).sum();
    assert!((total - 40e-9).abs() < 1e-15);
    assert!(aggregate
        .stacks
        .iter()
        .any(|s| names(&aggregate, s) == ["a"]));
}

#[test]
fn deep_stacks_keep_their_outermost_frames() {
    let mut recorder = Recorder::new(0, 0);
    let deep: Vec<LiveFrame<'static>> = (0..MAX_DEPTH + 50)
        .map(|i| frame(0x1000 + i * 16, "f", i as i32))
        .collect();
    sample(&mut recorder, &deep, 10);
    let aggregate = recorder.into_aggregate();
    let stack = &aggregate.stacks[0];
    assert_eq!(stack.frames.len(), MAX_DEPTH);
    assert_eq!(aggregate.frames[stack.frames[0] as usize].line, 0);
}

/// A string as it lives in a Python object: at `address`, with
/// CPython's cached `hash` (-1: none).
fn live(text: &'static str, address: usize, hash: isize) -> LiveStr<'static> {
    LiveStr::simulated(text.as_bytes(), address, hash)
}

fn live_frame(
    code_addr: usize,
    name: LiveStr<'static>,
    file: LiveStr<'static>,
) -> LiveFrame<'static> {
    LiveFrame::simulated(code_addr, 1, name, file)
}

/// Every stack as `function@file` labels, with its sample count, sorted.
fn stack_names(aggregate: &Aggregate) -> Vec<(Vec<String>, u64)> {
    stacks_labelled(aggregate, |frame| {
        format!("{}@{}", frame.function, frame.file)
    })
}

#[test]
fn a_string_at_a_reused_address_is_compared_by_content_unless_its_hash_proves_it() {
    let mut recorder = Recorder::new(0, 0);
    // Sample 1: f (hash 7) in a.py, both at known addresses.
    let first = live_frame(0x10, live("f", 0x100, 7), live("a.py", 0x200, -1));
    sample(&mut recorder, &[first], 10);
    // Same code address, name object and hash: the same frame.
    sample(&mut recorder, &[first], 20);
    // The code object and its file name were freed and replaced at the
    // same addresses by a different file of the same length and no hash:
    // a different frame.
    let replaced = live_frame(0x10, live("f", 0x100, 7), live("b.py", 0x200, -1));
    sample(&mut recorder, &[replaced], 30);
    // A different name at the same address with another hash, and one
    // with the same hash but another length: different frames.
    let other_hash = live_frame(0x10, live("g", 0x100, 8), live("a.py", 0x200, -1));
    sample(&mut recorder, &[other_hash], 40);
    let other_len = live_frame(0x10, live("ff", 0x100, 7), live("a.py", 0x200, -1));
    sample(&mut recorder, &[other_len], 50);
    let aggregate = recorder.into_aggregate();
    let expected: Vec<(Vec<String>, u64)> = vec![
        (vec!["f@a.py".to_string()], 2),
        (vec!["f@b.py".to_string()], 1),
        (vec!["ff@a.py".to_string()], 1),
        (vec!["g@a.py".to_string()], 1),
    ];
    assert_eq!(stack_names(&aggregate), expected);
}

#[test]
fn a_string_proven_in_one_sample_is_not_trusted_in_the_next() {
    let mut recorder = Recorder::new(0, 0);
    // Two functions of one module share the file name object.
    let outer = live_frame(0x10, live("outer", 0x100, 1), live("m.py", 0x300, -1));
    let inner = live_frame(0x20, live("inner", 0x110, 2), live("m.py", 0x300, -1));
    sample(&mut recorder, &[outer, inner], 10);
    // Next sample: the module was freed and another one, with a file
    // name of the same length, took the same addresses.
    let outer2 = live_frame(0x10, live("outer", 0x100, 1), live("n.py", 0x300, -1));
    let inner2 = live_frame(0x20, live("inner", 0x110, 2), live("n.py", 0x300, -1));
    sample(&mut recorder, &[outer2, inner2], 20);
    sample(&mut recorder, &[outer, inner], 30);
    let aggregate = recorder.into_aggregate();
    let expected: Vec<(Vec<String>, u64)> = vec![
        (vec!["outer@m.py".to_string(), "inner@m.py".to_string()], 2),
        (vec!["outer@n.py".to_string(), "inner@n.py".to_string()], 1),
    ];
    assert_eq!(stack_names(&aggregate), expected);
}

#[test]
fn stacks_sharing_a_prefix_with_the_previous_one_land_on_the_right_nodes() {
    let mut recorder = Recorder::new(0, 0);
    let f = |addr, name| frame(addr, name, 1);
    let (a, b, c, d, x) = (
        f(0x10, "a"),
        f(0x20, "b"),
        f(0x30, "c"),
        f(0x40, "d"),
        f(0x50, "x"),
    );
    let sequence: [&[LiveFrame<'static>]; 7] = [
        &[a, b, c],
        &[a, b, d],
        &[a, x, c],
        &[a, b],
        &[a, b, c, d],
        &[a, b, c],
        &[a],
    ];
    for (i, stack) in sequence.iter().enumerate() {
        sample(&mut recorder, stack, (i as u64 + 1) * 10);
    }
    let aggregate = recorder.into_aggregate();
    let got = stacks_by_name(&aggregate);
    assert_eq!(
        got,
        vec![
            owned(&["a"], 1),
            owned(&["a", "b"], 1),
            owned(&["a", "b", "c"], 2),
            owned(&["a", "b", "c", "d"], 1),
            owned(&["a", "b", "d"], 1),
            owned(&["a", "x", "c"], 1),
        ]
    );
}

#[test]
fn frames_are_trusted_only_while_no_code_object_was_freed() {
    let mut recorder = Recorder::new(0, 0);
    let main = live_frame(0x10, live("main", 0x100, 1), live("m.py", 0x300, -1));
    let f = live_frame(0x20, live("f", 0x110, 2), live("a.py", 0x200, -1));
    let g = live_frame(0x30, live("g", 0x120, 3), live("m.py", 0x300, -1));
    // The same level as last time, then a frame found again in the
    // frame table (not the last stack), both in one generation.
    sample_in(&mut recorder, &[main, f], Some(5), 10);
    sample_in(&mut recorder, &[main, f], Some(5), 20);
    sample_in(&mut recorder, &[main, g], Some(5), 30);
    sample_in(&mut recorder, &[main, f], Some(5), 40);
    // A code object was freed (generation 6) and another took 0x20,
    // with a file name of the same length at the same address: proven
    // different, whether it follows the same stack or another one.
    let replaced = live_frame(0x20, live("f", 0x110, 2), live("b.py", 0x200, -1));
    sample_in(&mut recorder, &[main, replaced], Some(6), 50);
    sample_in(&mut recorder, &[main, g], Some(6), 60);
    sample_in(&mut recorder, &[main, replaced], Some(6), 70);
    // Unknown generation: proven again, and the first frame comes back.
    sample_in(&mut recorder, &[main, f], None, 80);
    let aggregate = recorder.into_aggregate();
    let expected: Vec<(Vec<String>, u64)> = vec![
        (vec!["main@m.py".to_string(), "f@a.py".to_string()], 4),
        (vec!["main@m.py".to_string(), "f@b.py".to_string()], 2),
        (vec!["main@m.py".to_string(), "g@m.py".to_string()], 2),
    ];
    assert_eq!(stack_names(&aggregate), expected);
}

/// The timeline as (function names of its stack, samples, nanoseconds).
fn timeline_by_name(aggregate: &Aggregate) -> Vec<(Vec<String>, u32, u64)> {
    aggregate
        .timeline
        .iter()
        .map(|run| {
            let stack = &aggregate.stacks[run.stack as usize];
            (
                names(aggregate, stack),
                run.samples,
                (run.time * 1e9).round() as u64,
            )
        })
        .collect()
}

/// Summed per stack, the timeline gives each stack's samples and time.
fn assert_timeline_adds_up(aggregate: &Aggregate) {
    let mut samples = vec![0u64; aggregate.stacks.len()];
    let mut time = vec![0f64; aggregate.stacks.len()];
    for run in &aggregate.timeline {
        assert!(run.samples >= 1);
        samples[run.stack as usize] += run.samples as u64;
        time[run.stack as usize] += run.time;
    }
    for (i, stack) in aggregate.stacks.iter().enumerate() {
        assert_eq!(samples[i], stack.samples, "stack {i}");
        assert!(
            (time[i] - stack.time).abs() < 1e-12,
            "stack {i}: {} != {}",
            time[i],
            stack.time
        );
    }
}

#[test]
fn the_timeline_keeps_the_order_of_samples_one_run_per_repeat() {
    let mut recorder = Recorder::new(0, 0);
    let (main, f, g) = (
        frame(0x10, "main", 1),
        frame(0x20, "f", 5),
        frame(0x30, "g", 9),
    );
    sample(&mut recorder, &[main, f], 10);
    sample(&mut recorder, &[main, f], 30);
    sample(&mut recorder, &[main, g], 60);
    sample(&mut recorder, &[main], 100);
    sample(&mut recorder, &[main, f], 150);
    recorder.finish(160, 0);
    let aggregate = recorder.into_aggregate();
    assert_eq!(aggregate.unlogged_samples, 0);
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        timeline_by_name(&aggregate),
        vec![
            (s(&["main", "f"]), 2, 30),
            (s(&["main", "g"]), 1, 30),
            (s(&["main"]), 1, 40),
            (s(&["main", "f"]), 1, 60),
        ]
    );
    assert_timeline_adds_up(&aggregate);
}

#[test]
fn runs_of_one_stack_under_two_nodes_become_one_run() {
    // The same function compiled twice: two frame entries, one stack.
    let mut recorder = Recorder::new(0, 0);
    sample(&mut recorder, &[frame(0x10, "f", 1)], 10);
    sample(&mut recorder, &[frame(0x90, "f", 1)], 20);
    sample(&mut recorder, &[frame(0x40, "g", 1)], 30);
    let aggregate = recorder.into_aggregate();
    assert_eq!(aggregate.timeline.len(), 2);
    assert_eq!(aggregate.timeline[0].samples, 2);
    assert_timeline_adds_up(&aggregate);
}

#[test]
fn cut_stacks_and_builtin_leaves_are_logged_like_their_stacks() {
    let mut recorder = Recorder::with_capacity(0, 16, 4, 1024, 64);
    let (a, b, c) = (
        frame(0x10, "a", 1),
        frame(0x20, "b", 1),
        frame(0x30, "c", 1),
    );
    sample(&mut recorder, &[a, b], 10);
    sample(&mut recorder, &[a, c], 20);
    // No room for a>x: cut short to a.
    sample(&mut recorder, &[a, frame(0x40, "x", 1)], 30);
    recorder.record(1, |_| a, Some(1), 0, Some(b"sleep"), 40);
    recorder.finish(45, 0);
    let aggregate = recorder.into_aggregate();
    assert_eq!(aggregate.overflowed_samples, 2);
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        timeline_by_name(&aggregate),
        vec![
            (s(&["a", "b"]), 1, 10),
            (s(&["a", "c"]), 1, 10),
            (s(&["a"]), 2, 25),
        ]
    );
    assert_timeline_adds_up(&aggregate);
}

#[test]
fn a_full_log_never_grows_and_counts_what_it_left_out() {
    let mut recorder = Recorder::with_capacity(0, 16, 16, 1024, 2);
    let storage = (
        recorder.timeline.runs.as_ptr(),
        recorder.timeline.runs.capacity(),
    );
    assert_eq!(storage.1, 2);
    let (a, b) = (frame(0x10, "a", 1), frame(0x20, "b", 1));
    sample(&mut recorder, &[a], 10);
    sample(&mut recorder, &[b], 20);
    sample(&mut recorder, &[b], 30); // extends the last run: still logged
    sample(&mut recorder, &[a], 40); // no room: left out
    sample(&mut recorder, &[b], 50); // after a gap: left out, not appended
    recorder.finish(55, 0);
    assert_eq!(
        (
            recorder.timeline.runs.as_ptr(),
            recorder.timeline.runs.capacity()
        ),
        storage,
        "the log reallocated"
    );
    let aggregate = recorder.into_aggregate();
    assert_eq!(aggregate.timeline.len(), 2);
    assert_eq!(aggregate.timeline[1].samples, 2);
    assert_eq!(aggregate.unlogged_samples, 2);
    assert!((aggregate.unlogged_time - 25e-9).abs() < 1e-15);
    let logged: f64 = aggregate.timeline.iter().map(|r| r.time).sum();
    let total: f64 = aggregate.stacks.iter().map(|s| s.time).sum();
    assert!((logged + aggregate.unlogged_time - total).abs() < 1e-15);
}

#[test]
fn the_default_log_is_reserved_whole_and_sized_for_an_hour_of_distinct_samples() {
    let recorder = Recorder::new(0, 0);
    assert_eq!(recorder.timeline.runs.capacity(), TIMELINE_CAPACITY);
    assert_eq!(std::mem::size_of::<LoggedRun>(), 16);
}

// An hour of 1 ms samples, each a new run, fits, and the log's
// reservation stays within the hour's memory budget.
const _: () = assert!(TIMELINE_CAPACITY >= 3600 * 1000);
const _: () = assert!(TIMELINE_CAPACITY * std::mem::size_of::<LoggedRun>() <= 64 << 20);
