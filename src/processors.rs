//! Small pure transforms of a call tree, all with one signature
//! (`Processor`): take a tree, return a tree that still satisfies
//! `Node::check_invariant`. Renderers compose them; tests build trees
//! literally and check the invariant before and after each one.
//!
//! What a report shows by default, in the order `render::report_tree`
//! applies them: importlib's bootstrap frames and `__tracebackhide__`
//! frames spliced out (`remove_importlib`, `remove_tracebackhide`), `[self]`
//! rows split off (`add_self_rows`), small nodes pruned (`prune_small`),
//! needless `[self]` rows folded back (`drop_lonely_self_rows`), runs of
//! library frames collapsed (`group_library_frames`), children longest
//! first (`sort_by_time`). (pyinstrument's own frames never reach a
//! session: `Session::from_recording` takes them out.)

use crate::sample::FrameId;
use crate::tree::Node;
use std::cmp::Ordering;
use std::collections::HashMap;

/// Whether `group_library_frames` may hide a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hiding {
    /// Application code, or matched by `--show`: always a row of its own.
    Show,
    /// Library code, or matched by `--hide`.
    Hide,
    /// `<string>`/`<stdin>`: like the frame that called it.
    AsCaller,
}

/// What a transform may need to know besides the tree itself.
#[derive(Clone, Debug)]
pub struct Context<'a> {
    /// The frame table the tree's nodes index into.
    pub frames: &'a [FrameId],
    /// The whole profile's time: percentages and thresholds are shares of it.
    pub total: f64,
    /// Nodes under this share of `total` are pruned (0.01 for text).
    pub min_fraction: f64,
    /// Per frame (indexed like `frames`): may library grouping hide it? A
    /// frame past the end is shown.
    pub hiding: Vec<Hiding>,
    /// Per frame: the package or module a `[N frames hidden]` row names it
    /// by (`tree::library_name`).
    pub libraries: Vec<Option<String>>,
    /// The tree keeps time order (a timeline): nodes that splicing brings
    /// together are not merged, repeated calls stay separate.
    pub timeline: bool,
}

impl<'a> Context<'a> {
    /// A context in which every frame is shown and siblings are merged.
    pub fn new(frames: &'a [FrameId], total: f64, min_fraction: f64) -> Context<'a> {
        Context {
            frames,
            total,
            min_fraction,
            hiding: Vec::new(),
            libraries: Vec::new(),
            timeline: false,
        }
    }

    fn hiding_of(&self, node: &Node) -> Hiding {
        node.frame
            .and_then(|f| self.hiding.get(f as usize).copied())
            .unwrap_or(Hiding::Show)
    }

    fn frame(&self, node: &Node) -> Option<&FrameId> {
        node.frame.and_then(|f| self.frames.get(f as usize))
    }
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
    let mut removed_cpu = 0.0;
    node.children.retain(|c| {
        let keep = c.time >= threshold;
        if !keep {
            removed += c.time;
            removed_cpu += c.cpu();
        }
        keep
    });
    node.self_time += removed;
    node.self_cpu += removed_cpu;
    for child in &mut node.children {
        prune_in_place(child, threshold);
    }
}

/// Splices out the frames of `runpy` (`<frozen runpy>`, or `runpy.py`
/// before 3.11) at the top of the tree: how python runs `-m module` (and
/// `python -m pyinstrument`), not the program. The tree then starts at the
/// module's `<module>`, as it does for a script. runpy frames called by
/// the program itself (`runpy.run_path`) stay.
pub fn remove_runpy_root(mut root: Node, ctx: &Context) -> Node {
    if root.frame.is_some() || !ctx.frames.iter().any(is_runpy) {
        return root;
    }
    fn lift(
        children: Vec<Node>,
        ctx: &Context,
        own: &mut (f64, f64),
        kept: &mut Vec<Node>,
    ) -> bool {
        let mut spliced = false;
        for child in children {
            if ctx.frame(&child).is_some_and(is_runpy) {
                spliced = true;
                own.0 += child.self_time;
                own.1 += child.self_cpu;
                lift(child.children, ctx, own, kept);
            } else {
                kept.push(child);
            }
        }
        spliced
    }
    let mut kept = Vec::new();
    let mut own = (root.self_time, root.self_cpu);
    let spliced = lift(std::mem::take(&mut root.children), ctx, &mut own, &mut kept);
    let children = if spliced && !ctx.timeline {
        merge_siblings(kept)
    } else {
        kept
    };
    Node::new(None, own.0, children).with_self_cpu(own.1)
}

pub fn is_runpy(frame: &FrameId) -> bool {
    frame.file == "<frozen runpy>"
        || frame.file.ends_with("/runpy.py")
        || frame.file.ends_with("\\runpy.py")
}

/// Splices out importlib's bootstrap machinery (`<frozen
/// importlib._bootstrap>` and `<frozen importlib._bootstrap_external>`):
/// the dozen frames between an `import` statement and the imported
/// module's `<module>`. Their own time goes to the importing line.
pub fn remove_importlib(root: Node, ctx: &Context) -> Node {
    splice(root, ctx, &is_importlib_bootstrap)
}

pub fn is_importlib_bootstrap(frame: &FrameId) -> bool {
    frame.file.starts_with("<frozen importlib._bootstrap")
}

/// Splices out frames whose code sets `__tracebackhide__` (pytest's
/// convention for helpers that should stay out of sight).
pub fn remove_tracebackhide(root: Node, ctx: &Context) -> Node {
    splice(root, ctx, &is_tracebackhide)
}

pub fn is_tracebackhide(frame: &FrameId) -> bool {
    frame.hide_from_traceback
}

/// Replaces every node whose frame matches `remove` by its children (its
/// own time goes to its parent). Unless the tree is a timeline, children
/// that end up side by side with the same frame are merged, so the tree
/// stays aggregated (two imports reach two `<module>`s, but two calls
/// through different bootstrap paths to the same function are one node).
fn splice(node: Node, ctx: &Context, remove: &dyn Fn(&FrameId) -> bool) -> Node {
    // Most profiles have no such frame at all: leave their tree untouched.
    if !ctx.frames.iter().any(remove) {
        return node;
    }
    splice_in(node, ctx, remove)
}

fn splice_in(mut node: Node, ctx: &Context, remove: &dyn Fn(&FrameId) -> bool) -> Node {
    let mut spliced = false;
    let mut children = Vec::with_capacity(node.children.len());
    for child in std::mem::take(&mut node.children) {
        let child = splice_in(child, ctx, remove);
        if ctx.frame(&child).is_some_and(remove) {
            spliced = true;
            node.self_time += child.self_time;
            node.self_cpu += child.self_cpu;
            children.extend(child.children);
        } else {
            children.push(child);
        }
    }
    node.children = if spliced && !ctx.timeline {
        merge_siblings(children)
    } else {
        children
    };
    Node {
        time: node.self_time + node.children.iter().map(|c| c.time).sum::<f64>(),
        ..node
    }
}

/// Merges siblings that stand for the same frame (recursively, their
/// children too), keeping the order of first appearance.
fn merge_siblings(children: Vec<Node>) -> Vec<Node> {
    let mut out: Vec<Node> = Vec::with_capacity(children.len());
    let mut index: HashMap<u32, usize> = HashMap::new();
    let mut merged_any = false;
    for child in children {
        let key = match (child.frame, &child.synthetic) {
            (Some(f), None) => f,
            _ => {
                out.push(child);
                continue;
            }
        };
        match index.get(&key) {
            Some(&at) => {
                merged_any = true;
                let existing = &mut out[at];
                existing.self_time += child.self_time;
                existing.self_cpu += child.self_cpu;
                existing.time += child.time;
                existing.children.extend(child.children);
            }
            None => {
                index.insert(key, out.len());
                out.push(child);
            }
        }
    }
    if merged_any {
        for node in &mut out {
            let children = std::mem::take(&mut node.children);
            node.children = merge_siblings(children);
        }
    }
    out
}

/// Gives every frame that has both its own time and children a `[self]`
/// child holding that time, so the children's times add up to the
/// parent's. Runs before `prune_small`, so that a `[self]` row shows only
/// the frame's own time, never the pruned children's.
pub fn add_self_rows(mut root: Node, _ctx: &Context) -> Node {
    fn walk(node: &mut Node) {
        for child in &mut node.children {
            walk(child);
        }
        if node.frame.is_some() && !node.children.is_empty() && node.self_time > 0.0 {
            node.children
                .push(Node::self_row(node.self_time).with_self_cpu(node.self_cpu));
            node.self_time = 0.0;
            node.self_cpu = 0.0;
        }
    }
    walk(&mut root);
    root
}

/// Folds a `[self]` row back into its parent when it is the parent's only
/// child: it would only repeat the parent's time.
pub fn drop_lonely_self_rows(mut root: Node, _ctx: &Context) -> Node {
    fn walk(node: &mut Node) {
        if node.children.len() == 1 && node.children[0].is_self_row() {
            let row = node.children.pop().expect("one child");
            node.self_time += row.time;
            node.self_cpu += row.cpu();
        }
        for child in &mut node.children {
            walk(child);
        }
    }
    walk(&mut root);
    root
}

/// Collapses library code. Under a shown frame (application code, or the
/// root), the first library frame called stays a row of its own: it says
/// where the program entered the library. The library frames it calls,
/// and theirs, down to where the library calls back into application code,
/// become one `[N frames hidden]  pkg, pkg` row if there are two or more of
/// them (one is shown as it is). The application frames called back from
/// inside the run become that row's children, merged by frame unless the
/// tree is a timeline, and are collapsed in turn. `[self]` rows of hidden
/// frames count towards the hidden row's time.
///
/// A tree with no application frame at all (a standard-library module run
/// with `-m`, a script kept under a library directory) is left whole:
/// collapsing would leave nothing to see.
pub fn group_library_frames(root: Node, ctx: &Context) -> Node {
    if !has_shown_frame(&root, true, ctx) {
        return root;
    }
    group_under(root, true, ctx)
}

fn has_shown_frame(node: &Node, shown: bool, ctx: &Context) -> bool {
    node.children.iter().any(|c| {
        let child_shown = c.synthetic.is_none() && is_shown(c, shown, ctx);
        child_shown || has_shown_frame(c, child_shown, ctx)
    })
}

/// `node`'s children grouped; `shown` is whether `node` itself is shown
/// (decides what `<string>` children are, and whether a hidden child is
/// the entry into a library).
fn group_under(mut node: Node, shown: bool, ctx: &Context) -> Node {
    let mut children = Vec::with_capacity(node.children.len());
    for child in std::mem::take(&mut node.children) {
        if child.synthetic.is_some() {
            children.push(child);
            continue;
        }
        let child_shown = is_shown(&child, shown, ctx);
        if !child_shown && shown {
            children.push(entry_into_library(child, ctx));
        } else {
            children.push(group_under(child, child_shown, ctx));
        }
    }
    node.children = children;
    node
}

fn is_shown(node: &Node, parent_shown: bool, ctx: &Context) -> bool {
    match ctx.hiding_of(node) {
        Hiding::Show => true,
        Hiding::Hide => false,
        Hiding::AsCaller => parent_shown,
    }
}

/// The first library frame under a shown one: it stays, and the run of
/// library frames below it is collapsed if it has two or more frames.
fn entry_into_library(mut entry: Node, ctx: &Context) -> Node {
    let run: usize = entry
        .children
        .iter()
        .filter(|c| c.synthetic.is_none() && !is_shown(c, false, ctx))
        .map(|c| count_run(c, ctx))
        .sum();
    if run < 2 {
        return group_under(entry, false, ctx);
    }
    let mut kept = Vec::new();
    let mut hidden = HiddenRun::default();
    for child in std::mem::take(&mut entry.children) {
        if child.synthetic.is_none() && !is_shown(&child, false, ctx) {
            hidden.absorb(child, ctx);
        } else if child.synthetic.is_some() {
            // The entry's own time stays its own, but a library frame's
            // time is not itemised: no `[self]` row beside the hidden one.
            entry.self_time += child.time;
            entry.self_cpu += child.cpu();
        } else {
            kept.push(group_under(child, true, ctx));
        }
    }
    let called_back = if ctx.timeline {
        hidden.called_back
    } else {
        merge_siblings(hidden.called_back)
    };
    kept.push(
        Node::hidden(
            hidden.frames,
            hidden.libraries,
            hidden.self_time,
            called_back,
        )
        .with_self_cpu(hidden.self_cpu),
    );
    Node::new(entry.frame, entry.self_time, kept).with_self_cpu(entry.self_cpu)
}

/// Library frames reachable from `node` (included) through library frames.
fn count_run(node: &Node, ctx: &Context) -> usize {
    1 + node
        .children
        .iter()
        .filter(|c| c.synthetic.is_none() && !is_shown(c, false, ctx))
        .map(|c| count_run(c, ctx))
        .sum::<usize>()
}

#[derive(Default)]
struct HiddenRun {
    frames: usize,
    libraries: Vec<String>,
    self_time: f64,
    self_cpu: f64,
    /// Application frames called from inside the run, already grouped.
    called_back: Vec<Node>,
}

impl HiddenRun {
    /// Takes in a hidden library frame and everything below it.
    fn absorb(&mut self, node: Node, ctx: &Context) {
        self.frames += 1;
        if let Some(Some(name)) = node.frame.and_then(|f| ctx.libraries.get(f as usize)) {
            if !self.libraries.contains(name) {
                self.libraries.push(name.clone());
            }
        }
        self.self_time += node.self_time;
        self.self_cpu += node.self_cpu;
        for child in node.children {
            match child.synthetic {
                Some(_) => {
                    self.self_time += child.time;
                    self.self_cpu += child.cpu();
                }
                None if is_shown(&child, false, ctx) => {
                    self.called_back.push(group_under(child, true, ctx))
                }
                None => self.absorb(child, ctx),
            }
        }
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
        Context::new(frames, total, min_fraction)
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
