//! Small pure transforms of a call tree, all with one signature
//! (`Processor`): take a tree, return a tree that still satisfies
//! `Node::check_invariant`. Renderers compose them; tests build trees
//! literally and check the invariant before and after each one.

use crate::sample::FrameId;
use crate::tree::Node;
use std::cmp::Ordering;

/// What a transform may need to know besides the tree itself.
#[derive(Clone, Debug)]
pub struct Context<'a> {
    /// The frame table the tree's nodes index into.
    pub frames: &'a [FrameId],
    /// The whole profile's time: percentages and thresholds are shares of it.
    pub total: f64,
    /// Nodes under this share of `total` are pruned (0.01 for text).
    pub min_fraction: f64,
}

pub type Processor = fn(Node, &Context) -> Node;

/// Applies `processors` in order.
pub fn apply(mut root: Node, ctx: &Context, processors: &[Processor]) -> Node {
    for p in processors {
        root = p(root, ctx);
    }
    root
}

fn frame_order(a: Option<u32>, b: Option<u32>, frames: &[FrameId]) -> Ordering {
    let get = |f: Option<u32>| f.and_then(|i| frames.get(i as usize));
    match (get(a), get(b)) {
        (Some(x), Some(y)) => x
            .function
            .cmp(&y.function)
            .then_with(|| x.file.cmp(&y.file))
            .then_with(|| x.line.cmp(&y.line)),
        _ => a.cmp(&b),
    }
}

/// Orders every node's children by time, longest first; equal times by
/// function name, then file, then line, so output is deterministic.
pub fn sort_by_time(mut root: Node, ctx: &Context) -> Node {
    sort_in_place(&mut root, ctx.frames);
    root
}

fn sort_in_place(node: &mut Node, frames: &[FrameId]) {
    node.children.sort_by(|a, b| {
        b.time
            .partial_cmp(&a.time)
            .unwrap_or(Ordering::Equal)
            .then_with(|| frame_order(a.frame, b.frame, frames))
    });
    for child in &mut node.children {
        sort_in_place(child, frames);
    }
}

/// Drops every node whose time is under `min_fraction` of `total`; its time
/// becomes its parent's own time, so the parent's total is unchanged.
pub fn prune_small(mut root: Node, ctx: &Context) -> Node {
    let threshold = ctx.min_fraction * ctx.total;
    if threshold > 0.0 {
        prune_in_place(&mut root, threshold);
    }
    root
}

fn prune_in_place(node: &mut Node, threshold: f64) {
    let mut removed = 0.0;
    node.children.retain(|c| {
        let keep = c.time >= threshold;
        if !keep {
            removed += c.time;
        }
        keep
    });
    node.self_time += removed;
    for child in &mut node.children {
        prune_in_place(child, threshold);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames() -> Vec<FrameId> {
        ["<module>", "main", "b", "a", "c", "d"]
            .iter()
            .enumerate()
            .map(|(i, name)| FrameId::new(name, "x.py", i as u32 + 1))
            .collect()
    }

    fn ctx(frames: &[FrameId], total: f64, min_fraction: f64) -> Context<'_> {
        Context {
            frames,
            total,
            min_fraction,
        }
    }

    fn names(node: &Node, frames: &[FrameId]) -> Vec<String> {
        node.children
            .iter()
            .map(|c| frames[c.frame.unwrap() as usize].function.clone())
            .collect()
    }

    #[test]
    fn sort_orders_by_time_then_name() {
        let f = frames();
        let tree = Node::new(
            Some(1),
            0.0,
            vec![
                Node::leaf(4, 1.0),
                Node::new(Some(2), 0.5, vec![Node::leaf(5, 1.0), Node::leaf(4, 2.0)]),
                Node::leaf(3, 1.0),
            ],
        );
        tree.check_invariant().unwrap();
        let sorted = sort_by_time(tree.clone(), &ctx(&f, 4.5, 0.0));
        sorted.check_invariant().unwrap();
        assert_eq!(names(&sorted, &f), ["b", "a", "c"]);
        assert_eq!(names(&sorted.children[0], &f), ["c", "d"]);
        assert_eq!(sorted.time, tree.time);
    }

    #[test]
    fn prune_moves_small_children_into_parent_self_time() {
        let f = frames();
        let tree = Node::new(
            None,
            0.0,
            vec![Node::new(
                Some(1),
                0.0,
                vec![
                    Node::leaf(2, 98.0),
                    Node::leaf(3, 0.9),
                    Node::new(Some(4), 0.5, vec![Node::leaf(5, 0.6)]),
                ],
            )],
        );
        tree.check_invariant().unwrap();
        let pruned = prune_small(tree.clone(), &ctx(&f, 100.0, 0.01));
        pruned.check_invariant().unwrap();
        let main = &pruned.children[0];
        assert_eq!(names(main, &f), ["b", "c"]);
        assert!((main.self_time - 0.9).abs() < 1e-12);
        assert!(main.children[1].children.is_empty());
        assert!((main.children[1].self_time - 1.1).abs() < 1e-12);
        assert_eq!(pruned.time, tree.time);
        // A zero threshold keeps everything.
        assert_eq!(prune_small(tree.clone(), &ctx(&f, 100.0, 0.0)), tree);
    }

    #[test]
    fn apply_runs_processors_in_order() {
        let f = frames();
        let tree = Node::new(
            None,
            0.0,
            vec![Node::new(
                Some(0),
                0.0,
                vec![Node::leaf(3, 0.001), Node::leaf(4, 1.0), Node::leaf(2, 1.0)],
            )],
        );
        let c = ctx(&f, tree.time, 0.01);
        let out = apply(tree, &c, &[prune_small, sort_by_time]);
        out.check_invariant().unwrap();
        assert_eq!(out.frame, None);
        assert_eq!(names(&out.children[0], &f), ["b", "c"]);
    }
}
