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

/// A node under construction: children are indexes into the arena, and
/// always come after their parent in it.
struct Pending {
    frame: Option<u32>,
    self_time: f64,
    children: Vec<usize>,
}

/// Builds the time-ordered call tree of `session` (see the module comment).
/// The root is synthetic (`frame == None`), like `tree::build`'s; its time
/// is the timeline's total. Runs referring to a stack or frame that does not
/// exist are skipped (a loaded session is validated by `Session::from_json`,
/// so this only guards hand-made ones).
pub fn build(session: &Session) -> Node {
    let nframes = session.frames.len();
    let mut arena = vec![Pending {
        frame: None,
        self_time: 0.0,
        children: Vec::new(),
    }];
    // The previous sample's stack, and the arena node of each of its frames.
    let mut previous: &[u32] = &[];
    let mut open: Vec<usize> = Vec::new();
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
        open.truncate(shared);
        for &frame in &frames[shared..] {
            let parent = open.last().copied().unwrap_or(0);
            let id = arena.len();
            arena.push(Pending {
                frame: Some(frame),
                self_time: 0.0,
                children: Vec::new(),
            });
            arena[parent].children.push(id);
            open.push(id);
        }
        let leaf = open.last().copied().unwrap_or(0);
        arena[leaf].self_time += run.time;
        previous = frames;
    }
    // Children come after their parents: build from the last node back, so
    // every child is finished before its parent takes it.
    let mut built: Vec<Option<Node>> = Vec::with_capacity(arena.len());
    built.resize_with(arena.len(), || None);
    for (id, pending) in arena.into_iter().enumerate().rev() {
        let children = pending
            .children
            .iter()
            .map(|&child| {
                built[child]
                    .take()
                    .expect("a child is built before its parent")
            })
            .collect();
        built[id] = Some(Node::new(pending.frame, pending.self_time, children));
    }
    built[0].take().expect("the root")
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
    }
}
