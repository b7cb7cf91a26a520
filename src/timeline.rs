//! The call tree in time order, for the timeline view (`-t`), pyinstrument
//! 5's "timeline": where `tree::build` merges every call of a function under
//! one caller into one node, this keeps calls apart. It reads the session's
//! timeline (the samples in the order they were taken) and:
//!
//! - lets consecutive samples share the nodes of their common prefix: a
//!   frame seen in one sample and, at the same depth under the same
//!   callers, in the next is taken to be the same call, still running;
//! - starts a new node for a frame that comes back after a sample without
//!   it (the call returned; this is another call), so repeated calls are
//!   not merged;
//! - orders every node's children as they happened.
//!
//! Like `tree::build`, it knows nothing of how samples were taken, and its
//! nodes refer to the session's frame table. A session whose order is
//! unknown (`Session::time_order_known` is false: a version-1 profile) gives
//! an empty tree; callers say so rather than build one from the aggregated
//! stacks, which would invent an order.

use crate::session::Session;
use crate::tree::Node;

/// Builds the time-ordered call tree of `session` (see the module comment).
/// The root is synthetic (`frame == None`), like `tree::build`'s; its time
/// is the timeline's total. Runs referring to a stack or frame that does not
/// exist are skipped (a loaded session is validated by `Session::from_json`,
/// so this only guards hand-made ones).
pub fn build(session: &Session) -> Node {
    build_pruned(session, 0.0)
}

/// `build` followed by `processors::prune_small` with a threshold of
/// `min_time` seconds, without keeping the pruned subtrees: a call whose
/// total is under `min_time` is dropped as soon as it ends, its time going
/// to its caller's own time. A profile whose calls are many and short (a
/// million samples in no two consecutive alike: millions of calls) then
/// costs the time to walk it, not the memory of all its nodes.
pub fn build_pruned(session: &Session, min_time: f64) -> Node {
    let nframes = session.frames.len();
    // The nodes of the previous sample's stack, root first, still open: a
    // node is finished (its time summed) and handed to its parent when a
    // sample no longer has it, so every node is built once, in place.
    let mut open: Vec<Node> = vec![Node::new(None, 0.0, Vec::new())];
    let mut previous: &[u32] = &[];
    for run in &session.timeline {
        let Some(stack) = session.stacks.get(run.stack as usize) else {
            continue;
        };
        let frames = stack.frames.as_slice();
        if frames.iter().any(|&f| f as usize >= nframes) {
            continue;
        }
        let shared = previous
            .iter()
            .zip(frames)
            .take_while(|(a, b)| a == b)
            .count();
        close_down_to(&mut open, shared + 1, min_time);
        for &frame in &frames[shared..] {
            open.push(Node::new(Some(frame), 0.0, Vec::new()));
        }
        let leaf = open.last_mut().expect("the root is always open");
        leaf.self_time += run.time;
        previous = frames;
    }
    close_down_to(&mut open, 1, min_time);
    let mut root = open.pop().expect("the root");
    root.time += root.self_time;
    root
}

/// Finishes the open nodes above the first `keep` and hands each to its
/// parent, or, if its total is under `min_time`, only its time (as the
/// parent's own). An open node's `time` holds its finished children's
/// total so far; finishing adds its own time.
fn close_down_to(open: &mut Vec<Node>, keep: usize, min_time: f64) {
    while open.len() > keep {
        let mut node = open.pop().expect("more than `keep` nodes");
        node.time += node.self_time;
        let parent = open.last_mut().expect("a parent");
        if node.time < min_time {
            // Added to the parent's time when the parent finishes.
            parent.self_time += node.time;
        } else {
            parent.time += node.time;
            parent.children.push(node);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{FrameId, StackRecord, TimelineRun};
    use crate::session::FORMAT_VERSION;

    const MAIN: u32 = 0;
    const F: u32 = 1;
    const G: u32 = 2;
    const H: u32 = 3;

    /// A session with frames main, f, g, h, the given distinct stacks, and
    /// the given timeline of (stack, samples, time); the stacks' totals are
    /// computed from the timeline, as the recorder's are.
    fn session(stacks: &[&[u32]], timeline: &[(u32, u32, f64)]) -> Session {
        let mut records: Vec<StackRecord> = stacks
            .iter()
            .map(|frames| StackRecord {
                frames: frames.to_vec(),
                time: 0.0,
                samples: 0,
            })
            .collect();
        for &(stack, samples, time) in timeline {
            if let Some(record) = records.get_mut(stack as usize) {
                record.samples += samples as u64;
                record.time += time;
            }
        }
        Session {
            format_version: FORMAT_VERSION,
            start_time: 0.0,
            duration: timeline.iter().map(|r| r.2).sum(),
            cpu_time: 0.0,
            sample_count: timeline.iter().map(|r| r.1 as u64).sum(),
            interval: 0.001,
            mode: "signal".into(),
            command_line: vec!["demo.py".into()],
            python_version: "3.11.0".into(),
            sys_path: vec![],
            library_dirs: vec![],
            notes: vec![],
            frames: ["main", "f", "g", "h"]
                .iter()
                .enumerate()
                .map(|(i, name)| FrameId::new(name, "demo.py", i as u32 + 1))
                .collect(),
            stacks: records,
            timeline: timeline.iter().map(|&r| TimelineRun::from(r)).collect(),
            stack_cpu_times: Vec::new(),
            thread_cpu_time: None,
            target_description: None,
            threads: Vec::new(),
        }
    }

    /// The tree as nested (frame, self time in ms, children), for asserts.
    #[derive(Debug, PartialEq)]
    struct Shape(Option<u32>, i64, Vec<Shape>);

    fn shape(node: &Node) -> Shape {
        Shape(
            node.frame,
            (node.self_time * 1000.0).round() as i64,
            node.children.iter().map(shape).collect(),
        )
    }

    fn leaf(frame: u32, ms: i64) -> Shape {
        Shape(Some(frame), ms, vec![])
    }

    fn checked(session: &Session) -> Node {
        let root = build(session);
        root.check_invariant().unwrap();
        root
    }

    #[test]
    fn a_function_called_again_later_is_a_new_node_in_call_order() {
        // main>f twice, main>g, main>f again: f, g, f under main.
        let s = session(
            &[&[MAIN, F], &[MAIN, G]],
            &[(0, 2, 0.002), (1, 1, 0.001), (0, 3, 0.003)],
        );
        let root = checked(&s);
        assert_eq!(
            shape(&root),
            Shape(
                None,
                0,
                vec![Shape(
                    Some(MAIN),
                    0,
                    vec![leaf(F, 2), leaf(G, 1), leaf(F, 3)]
                )]
            )
        );
        // The aggregated tree merges the two calls of f.
        let merged = crate::tree::build(&s);
        assert_eq!(merged.children[0].children.len(), 2);
        assert!((root.time - merged.time).abs() < 1e-12);
    }

    #[test]
    fn consecutive_samples_share_their_common_prefix() {
        // main>f>g, main>f>h, main>f, main>f>g: one call of f throughout,
        // in which g, h and g again were called.
        let s = session(
            &[&[MAIN, F, G], &[MAIN, F, H], &[MAIN, F]],
            &[(0, 1, 0.001), (1, 2, 0.002), (2, 4, 0.004), (0, 1, 0.001)],
        );
        let root = checked(&s);
        assert_eq!(
            shape(&root),
            Shape(
                None,
                0,
                vec![Shape(
                    Some(MAIN),
                    0,
                    vec![Shape(Some(F), 4, vec![leaf(G, 1), leaf(H, 2), leaf(G, 1)])]
                )]
            )
        );
        assert!((root.time - 0.008).abs() < 1e-12);
    }

    #[test]
    fn a_caller_that_returned_and_came_back_is_new_at_every_level() {
        // main>f>g, then main alone (f returned), then main>f>g again: a
        // second f, with its own g. A recursive f>f is two levels.
        let s = session(
            &[&[MAIN, F, G], &[MAIN], &[MAIN, F, F]],
            &[(0, 1, 0.001), (1, 1, 0.001), (0, 1, 0.001), (2, 2, 0.002)],
        );
        let root = checked(&s);
        assert_eq!(
            shape(&root),
            Shape(
                None,
                0,
                vec![Shape(
                    Some(MAIN),
                    1,
                    vec![
                        Shape(Some(F), 0, vec![leaf(G, 1)]),
                        Shape(Some(F), 0, vec![leaf(G, 1), leaf(F, 2)]),
                    ]
                )]
            )
        );
    }

    #[test]
    fn different_outermost_frames_are_roots_in_order() {
        // A thread's function, then main, then the thread's again.
        let s = session(
            &[&[H], &[MAIN, F]],
            &[(0, 1, 0.001), (1, 1, 0.002), (0, 1, 0.003)],
        );
        let root = checked(&s);
        assert_eq!(
            shape(&root),
            Shape(
                None,
                0,
                vec![
                    leaf(H, 1),
                    Shape(Some(MAIN), 0, vec![leaf(F, 2)]),
                    leaf(H, 3)
                ]
            )
        );
    }

    #[test]
    fn an_unknown_order_gives_an_empty_tree_not_an_invented_one() {
        let mut s = session(&[&[MAIN, F]], &[(0, 5, 0.005)]);
        s.timeline.clear(); // as a version-1 profile loads
        assert!(!s.time_order_known());
        let root = checked(&s);
        assert_eq!(shape(&root), Shape(None, 0, vec![]));
        assert_eq!(root.time, 0.0);
    }

    #[test]
    fn runs_with_a_missing_stack_or_frame_are_skipped() {
        let s = session(
            &[&[MAIN, F], &[MAIN, 99]],
            &[(0, 1, 0.001), (1, 1, 0.5), (7, 1, 0.5), (0, 1, 0.002)],
        );
        let root = checked(&s);
        // The bad runs are skipped without breaking the call of f.
        assert_eq!(
            shape(&root),
            Shape(None, 0, vec![Shape(Some(MAIN), 0, vec![leaf(F, 3)])])
        );
    }

    #[test]
    fn pruning_drops_short_calls_as_they_end_and_keeps_the_time() {
        // f (1 ms), g (5 ms), f (1 ms) under main, and h's own 3 ms.
        let s = session(
            &[&[MAIN, F], &[MAIN, G], &[H]],
            &[(0, 1, 0.001), (1, 5, 0.005), (0, 1, 0.001), (2, 3, 0.003)],
        );
        let root = build_pruned(&s, 0.002);
        root.check_invariant().unwrap();
        assert_eq!(
            shape(&root),
            Shape(
                None,
                0,
                vec![Shape(Some(MAIN), 2, vec![leaf(G, 5)]), leaf(H, 3)]
            )
        );
        assert!((root.time - 0.010).abs() < 1e-12);
        // Unpruned, the same calls are all there.
        assert_eq!(build(&s).count(), 6);
    }

    #[test]
    fn the_timeline_tree_adds_up_to_the_aggregated_tree() {
        // A longer, varied sequence: every frame's total over the timeline
        // tree equals its total in the aggregated tree.
        let stacks: &[&[u32]] = &[
            &[MAIN],
            &[MAIN, F],
            &[MAIN, F, G],
            &[MAIN, G],
            &[MAIN, G, F, H],
            &[H],
        ];
        let mut timeline = Vec::new();
        let mut state = 12345u64;
        let mut last = u32::MAX;
        for _ in 0..500 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let stack = ((state >> 33) % stacks.len() as u64) as u32;
            if stack == last {
                continue;
            }
            last = stack;
            let samples = 1 + ((state >> 20) % 5) as u32;
            timeline.push((stack, samples, samples as f64 * 0.001));
        }
        let s = session(stacks, &timeline);
        let root = checked(&s);
        let merged = crate::tree::build(&s);
        fn totals(node: &Node, out: &mut [f64; 4]) {
            if let Some(f) = node.frame {
                out[f as usize] += node.self_time;
            }
            for child in &node.children {
                totals(child, out);
            }
        }
        let (mut a, mut b) = ([0.0; 4], [0.0; 4]);
        totals(&root, &mut a);
        totals(&merged, &mut b);
        for f in 0..4 {
            assert!(
                (a[f] - b[f]).abs() < 1e-9,
                "frame {f}: {} != {}",
                a[f],
                b[f]
            );
        }
        assert!((root.time - merged.time).abs() < 1e-9);
        assert!(root.count() > merged.count());
        // Pruning while building is pruning after building.
        let ctx = crate::processors::Context::new(&s.frames, root.time, 0.01);
        let pruned = build_pruned(&s, 0.01 * root.time);
        pruned.check_invariant().unwrap();
        assert_eq!(
            shape(&pruned),
            shape(&crate::processors::prune_small(root.clone(), &ctx))
        );
        assert!(pruned.count() < root.count());
    }
}
