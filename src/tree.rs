//! The call tree: every distinct stack of a session merged into one tree of
//! frames, each node carrying its total time (own time plus its children's).
//!
//! The tree knows nothing of how samples were taken: it is built only from a
//! `Session`'s frame table and aggregated stacks. Nodes refer to frames by
//! their index in that table, so a tree is only meaningful next to the
//! session (or frame list) it was built from.

use crate::sample::FrameId;
use crate::session::Session;

/// One node of the call tree. The root of a tree built by `build` is a
/// synthetic node (`frame == None`) whose children are the outermost frames.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// Index into the session's frame table; `None` for the synthetic root.
    pub frame: Option<u32>,
    /// Seconds spent in this frame itself (not in a child shown in the tree).
    pub self_time: f64,
    /// Seconds spent in this frame and everything it called:
    /// `self_time + sum(children.time)` (see `check_invariant`).
    pub time: f64,
    pub children: Vec<Node>,
}

impl Node {
    /// A node whose `time` is computed from `self_time` and the children's
    /// times, so it satisfies the invariant by construction.
    pub fn new(frame: Option<u32>, self_time: f64, children: Vec<Node>) -> Node {
        let time = self_time + children.iter().map(|c| c.time).sum::<f64>();
        Node {
            frame,
            self_time,
            time,
            children,
        }
    }

    /// A childless node.
    pub fn leaf(frame: u32, time: f64) -> Node {
        Node::new(Some(frame), time, Vec::new())
    }

    /// Number of nodes in this subtree, this one included.
    pub fn count(&self) -> usize {
        1 + self.children.iter().map(Node::count).sum::<usize>()
    }

    /// Checks the tree's invariant on this subtree: every time is finite and
    /// non-negative, and a node's time equals its own time plus its
    /// children's (to within float rounding). Tests call it before and after
    /// every transform.
    pub fn check_invariant(&self) -> Result<(), String> {
        self.check_at(&mut Vec::new())
    }

    fn check_at(&self, path: &mut Vec<Option<u32>>) -> Result<(), String> {
        path.push(self.frame);
        if !(self.time.is_finite() && self.self_time.is_finite()) {
            return Err(format!("node at {:?}: non-finite time", path));
        }
        if self.self_time < 0.0 {
            return Err(format!(
                "node at {:?}: negative self time {}",
                path, self.self_time
            ));
        }
        let expected = self.self_time + self.children.iter().map(|c| c.time).sum::<f64>();
        let tolerance = 1e-9 * expected.abs().max(1.0);
        if (self.time - expected).abs() > tolerance {
            return Err(format!(
                "node at {:?}: time {} != self time {} + children {}",
                path,
                self.time,
                self.self_time,
                expected - self.self_time
            ));
        }
        for child in &self.children {
            child.check_at(path)?;
        }
        path.pop();
        Ok(())
    }
}

/// Builds the call tree of a session. Children come out ordered by frame
/// index (deterministic); `processors::sort_by_time` gives the display order.
/// Stacks whose frame indexes are out of range are skipped (a loaded session
/// is validated by `Session::from_json`, so this only guards hand-made ones).
pub fn build(session: &Session) -> Node {
    build_pruned(session, 0.0)
}

/// `build` followed by `processors::prune_small` with a threshold of
/// `min_time` seconds, without ever building the subtrees that would be
/// pruned: a profile of 100k distinct stacks has a tree of ~500k nodes, of
/// which a report under a 1% threshold shows a few dozen.
pub fn build_pruned(session: &Session, min_time: f64) -> Node {
    let mut stacks = valid_stacks(session);
    // Sorting puts every stack sharing a prefix next to each other, so each
    // level is built by grouping consecutive runs: no hashing, O(total frames).
    stacks.sort_by(|a, b| a.0.cmp(b.0));
    build_node(None, &stacks, 0, min_time)
}

/// The profile's total time: what `build(session).time` is.
pub fn total_time(session: &Session) -> f64 {
    valid_stacks(session).iter().fold(0.0, |sum, s| sum + s.1)
}

fn valid_stacks(session: &Session) -> Vec<(&[u32], f64)> {
    let nframes = session.frames.len();
    session
        .stacks
        .iter()
        .filter(|s| s.frames.iter().all(|&f| (f as usize) < nframes))
        .map(|s| (s.frames.as_slice(), s.time))
        .collect()
}

/// `stacks` all share the same first `depth` frames (the path to this node)
/// and are sorted. A child whose stacks add up to less than `min_time` is not
/// built; its time becomes this node's own.
fn build_node(frame: Option<u32>, stacks: &[(&[u32], f64)], depth: usize, min_time: f64) -> Node {
    let mut self_time = 0.0;
    let mut children = Vec::new();
    let mut i = 0;
    while i < stacks.len() {
        let (frames, time) = stacks[i];
        if frames.len() == depth {
            // Shorter stacks sort first: this stack ends at this node.
            self_time += time;
            i += 1;
            continue;
        }
        let child_frame = frames[depth];
        let start = i;
        let mut child_time = 0.0;
        while i < stacks.len() && stacks[i].0.len() > depth && stacks[i].0[depth] == child_frame {
            child_time += stacks[i].1;
            i += 1;
        }
        if child_time < min_time {
            self_time += child_time;
        } else {
            children.push(build_node(
                Some(child_frame),
                &stacks[start..i],
                depth + 1,
                min_time,
            ));
        }
    }
    Node::new(frame, self_time, children)
}

/// True if the file looks like an interpreter pseudo file (`<string>`,
/// `<built-in>`, `<frozen importlib._bootstrap>`...) rather than a path.
pub fn is_pseudo_file(file: &str) -> bool {
    file.starts_with('<') && file.ends_with('>')
}

/// True if `path` is `dir` or lies under it, comparing whole path components
/// (`/usr/lib/python3` does not contain `/usr/lib/python3.11/os.py`).
pub fn path_is_under(path: &str, dir: &str) -> bool {
    let dir = dir.trim_end_matches(['/', '\\']);
    if dir.is_empty() {
        // "/" (or "") contains every absolute path.
        return path.starts_with('/') || path.starts_with('\\');
    }
    match path.strip_prefix(dir) {
        Some(rest) => rest.is_empty() || rest.starts_with('/') || rest.starts_with('\\'),
        None => false,
    }
}

/// "Application code": a real file that is not under any library directory
/// (the standard library, site-packages).
pub fn is_application(frame: &FrameId, library_dirs: &[String]) -> bool {
    !is_pseudo_file(&frame.file)
        && !library_dirs
            .iter()
            .any(|d| !d.is_empty() && path_is_under(&frame.file, d))
}

/// The file name relative to the longest `sys.path` entry that contains it
/// (as the seed shows `demo.py` rather than `/home/me/project/demo.py`);
/// unchanged if no entry contains it or it is a pseudo file.
pub fn short_path<'a>(file: &'a str, sys_path: &[String]) -> &'a str {
    if is_pseudo_file(file) {
        return file;
    }
    let mut best: Option<&'a str> = None;
    for entry in sys_path {
        let dir = entry.trim_end_matches(['/', '\\']);
        if dir.is_empty() || !path_is_under(file, dir) || file.len() == dir.len() {
            continue;
        }
        let rest = &file[dir.len() + 1..];
        if best.is_none_or(|b| rest.len() < b.len()) {
            best = Some(rest);
        }
    }
    best.unwrap_or(file)
}

/// `file:line` as shown next to a function; just the pseudo file for
/// built-ins (`<built-in>`), whose line means nothing.
pub fn location(frame: &FrameId, sys_path: &[String]) -> String {
    if frame.is_builtin() {
        frame.file.clone()
    } else {
        format!("{}:{}", short_path(&frame.file, sys_path), frame.line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::StackRecord;
    use crate::session::FORMAT_VERSION;

    fn session(frames: &[(&str, &str, u32)], stacks: &[(&[u32], f64)]) -> Session {
        Session {
            format_version: FORMAT_VERSION,
            start_time: 0.0,
            duration: stacks.iter().map(|s| s.1).sum(),
            cpu_time: 0.0,
            sample_count: stacks.len() as u64,
            interval: 0.001,
            mode: "signal".into(),
            command_line: vec!["demo.py".into()],
            python_version: "3.11.0".into(),
            sys_path: vec![],
            library_dirs: vec![],
            notes: vec![],
            timeline: Vec::new(),
            frames: frames.iter().map(|f| FrameId::new(f.0, f.1, f.2)).collect(),
            stacks: stacks
                .iter()
                .map(|s| StackRecord {
                    frames: s.0.to_vec(),
                    time: s.1,
                    samples: 1,
                })
                .collect(),
        }
    }

    #[test]
    fn build_merges_common_prefixes() {
        let s = session(
            &[("main", "a.py", 1), ("f", "a.py", 5), ("g", "a.py", 9)],
            &[
                (&[0, 1], 1.0),
                (&[0, 2], 2.0),
                (&[0], 0.5),
                (&[0, 1], 0.25),
                (&[], 0.125),
            ],
        );
        let tree = build(&s);
        tree.check_invariant().unwrap();
        let expected = Node::new(
            None,
            0.125,
            vec![Node::new(
                Some(0),
                0.5,
                vec![Node::leaf(1, 1.25), Node::leaf(2, 2.0)],
            )],
        );
        assert_eq!(tree, expected);
        assert_eq!(tree.time, 3.875);
        assert_eq!(tree.count(), 4);
    }

    #[test]
    fn build_pruned_equals_build_then_prune() {
        let s = session(
            &[
                ("main", "a.py", 1),
                ("f", "a.py", 5),
                ("g", "a.py", 9),
                ("h", "a.py", 13),
            ],
            &[
                (&[0, 1], 1.0),
                (&[0, 2], 0.25),
                (&[0, 2, 3], 0.5),
                (&[0, 3], 0.125),
                (&[0, 1, 3], 0.0625),
                (&[0], 0.5),
                (&[3], 0.0625),
            ],
        );
        let full = build(&s);
        assert_eq!(total_time(&s), full.time);
        for min_time in [0.0, 0.0625, 0.1, 0.3, 1.0, 10.0] {
            let ctx = crate::processors::Context {
                frames: &s.frames,
                total: 1.0,
                min_fraction: min_time,
            };
            let expected = crate::processors::prune_small(full.clone(), &ctx);
            let pruned = build_pruned(&s, min_time);
            pruned.check_invariant().unwrap();
            assert_eq!(pruned, expected, "min_time {}", min_time);
        }
    }

    #[test]
    fn build_skips_out_of_range_frames() {
        let s = session(&[("main", "a.py", 1)], &[(&[0, 7], 1.0), (&[0], 1.0)]);
        let tree = build(&s);
        tree.check_invariant().unwrap();
        assert_eq!(tree.time, 1.0);
    }

    #[test]
    fn invariant_checker_catches_bad_times() {
        let mut n = Node::new(None, 1.0, vec![Node::leaf(0, 2.0)]);
        assert!(n.check_invariant().is_ok());
        n.children[0].time = 3.0;
        let err = n.check_invariant().unwrap_err();
        assert!(
            err.contains("time 3 != self time 1 + children 3"),
            "{}",
            err
        );
        let neg = Node {
            frame: Some(0),
            self_time: -1.0,
            time: -1.0,
            children: vec![],
        };
        assert!(neg.check_invariant().is_err());
    }

    #[test]
    fn application_code_uses_directory_boundaries() {
        let libs = vec![
            "/usr/lib/python3.11".to_string(),
            "/venv/lib/site-packages/".to_string(),
        ];
        let app = |f: &str| is_application(&FrameId::new("f", f, 1), &libs);
        assert!(!app("/usr/lib/python3.11/os.py"));
        assert!(!app("/venv/lib/site-packages/django/db.py"));
        assert!(app("/usr/lib/python3.11x/mine.py"));
        assert!(app("/home/me/lib/project.py"));
        assert!(app("demo.py"));
        assert!(!app("<built-in>"));
        assert!(!app("<string>"));
        assert!(!app("<frozen importlib._bootstrap>"));
    }

    #[test]
    fn short_path_uses_the_longest_matching_entry() {
        let sys_path = vec![
            "".to_string(),
            "/home/me/proj".to_string(),
            "/usr/lib/python3.11".to_string(),
            "/usr/lib/python3.11/site-packages/".to_string(),
        ];
        assert_eq!(short_path("/home/me/proj/demo.py", &sys_path), "demo.py");
        assert_eq!(
            short_path("/home/me/projx/demo.py", &sys_path),
            "/home/me/projx/demo.py"
        );
        assert_eq!(
            short_path("/usr/lib/python3.11/site-packages/a/b.py", &sys_path),
            "a/b.py"
        );
        assert_eq!(
            short_path("/usr/lib/python3.11/json/__init__.py", &sys_path),
            "json/__init__.py"
        );
        assert_eq!(short_path("<string>", &sys_path), "<string>");
        assert_eq!(
            location(&FrameId::new("sleep", "<built-in>", 0), &sys_path),
            "<built-in>"
        );
        assert_eq!(
            location(&FrameId::new("f", "/home/me/proj/x.py", 3), &sys_path),
            "x.py:3"
        );
    }
}
