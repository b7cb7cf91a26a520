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
/// synthetic node (`frame == None`, `synthetic == None`) whose children are
/// the outermost frames. Processors add other rows that stand for no single
/// frame (see `Synthetic`).
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// Index into the session's frame table; `None` for the root and for
    /// synthetic rows.
    pub frame: Option<u32>,
    /// Seconds spent in this frame itself (not in a child shown in the tree).
    pub self_time: f64,
    /// Seconds spent in this frame and everything it called:
    /// `self_time + sum(children.time)` (see `check_invariant`).
    pub time: f64,
    pub children: Vec<Node>,
    /// What a frameless node other than the root stands for.
    pub synthetic: Option<Synthetic>,
    /// The profiled thread's CPU seconds in this frame itself, counted
    /// like `self_time` (0 when the session recorded none); `cpu()` adds
    /// the children's. Every transform moves it with `self_time`.
    pub self_cpu: f64,
}

/// Rows a report shows that are not one frame.
#[derive(Clone, Debug, PartialEq)]
pub enum Synthetic {
    /// `[self]`: the parent frame's own time, shown beside its children so
    /// that their times visibly add up.
    SelfTime,
    /// `[N frames hidden]  django, asgiref`: a run of library frames
    /// collapsed into one row. Its own time is the time spent in those
    /// frames; its children are the application frames they called back.
    Hidden {
        /// How many tree nodes the row stands for.
        frames: usize,
        /// Top-level packages or modules of those frames, in call order.
        libraries: Vec<String>,
    },
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
            synthetic: None,
            self_cpu: 0.0,
        }
    }

    /// The same node with `self_cpu` set.
    pub fn with_self_cpu(self, self_cpu: f64) -> Node {
        Node { self_cpu, ..self }
    }

    /// CPU seconds in this frame and everything it called (a report shows
    /// a handful of nodes: computed when asked).
    pub fn cpu(&self) -> f64 {
        self.self_cpu + self.children.iter().map(Node::cpu).sum::<f64>()
    }

    /// A childless node.
    pub fn leaf(frame: u32, time: f64) -> Node {
        Node::new(Some(frame), time, Vec::new())
    }

    /// A `[self]` row of `time` seconds.
    pub fn self_row(time: f64) -> Node {
        Node {
            synthetic: Some(Synthetic::SelfTime),
            ..Node::new(None, time, Vec::new())
        }
    }

    /// A `[N frames hidden]` row.
    pub fn hidden(
        frames: usize,
        libraries: Vec<String>,
        self_time: f64,
        children: Vec<Node>,
    ) -> Node {
        Node {
            synthetic: Some(Synthetic::Hidden { frames, libraries }),
            ..Node::new(None, self_time, children)
        }
    }

    pub fn is_self_row(&self) -> bool {
        self.synthetic == Some(Synthetic::SelfTime)
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
    build_node(None, &stacks, 0, min_time, false)
}

/// The tree a report starts from, built in one pass (a profile of 100k
/// distinct stacks must still render in well under a second): the same as
/// `build`, then splicing out the outermost frames `strip_leading` matches
/// (`processors::remove_runpy_root`) and then every frame `remove` matches
/// (`processors::remove_importlib`, `remove_tracebackhide`), then, with
/// `self_rows`, `processors::add_self_rows`, `prune_small` at `min_time`
/// seconds and `drop_lonely_self_rows`; without, `prune_small` alone.
/// Splicing a frame out of every stack before merging them is splicing it
/// out of the tree and merging the siblings it brings together. Tests hold
/// it equal to those processors.
pub fn build_report(
    session: &Session,
    strip_leading: &dyn Fn(&FrameId) -> bool,
    remove: &dyn Fn(&FrameId) -> bool,
    min_time: f64,
    self_rows: bool,
) -> Node {
    let leading: Vec<bool> = session.frames.iter().map(strip_leading).collect();
    let removed: Vec<bool> = session.frames.iter().map(remove).collect();
    if !removed.contains(&true) && !leading.contains(&true) {
        let mut stacks = valid_stacks(session);
        stacks.sort_by(|a, b| a.0.cmp(b.0));
        return build_node(None, &stacks, 0, min_time, self_rows);
    }
    let kept: Vec<(Vec<u32>, f64, f64)> = valid_stacks(session)
        .into_iter()
        .map(|(frames, time, cpu)| {
            let outermost = frames.iter().take_while(|&&f| leading[f as usize]).count();
            let frames = frames[outermost..]
                .iter()
                .copied()
                .filter(|&f| !removed[f as usize])
                .collect();
            (frames, time, cpu)
        })
        .collect();
    let mut stacks: Vec<(&[u32], f64, f64)> = kept
        .iter()
        .map(|(f, t, c)| (f.as_slice(), *t, *c))
        .collect();
    stacks.sort_by(|a, b| a.0.cmp(b.0));
    build_node(None, &stacks, 0, min_time, self_rows)
}

/// The profile's total time: what `build(session).time` is.
pub fn total_time(session: &Session) -> f64 {
    valid_stacks(session).iter().fold(0.0, |sum, s| sum + s.1)
}

/// The stacks whose frames exist: (frames, wall time, CPU time; 0 when
/// the session recorded none).
fn valid_stacks(session: &Session) -> Vec<(&[u32], f64, f64)> {
    let nframes = session.frames.len();
    session
        .stacks
        .iter()
        .enumerate()
        .filter(|(_, s)| s.frames.iter().all(|&f| (f as usize) < nframes))
        .map(|(i, s)| {
            let cpu = session.stack_cpu_times.get(i).copied().unwrap_or(0.0);
            (s.frames.as_slice(), s.time, cpu)
        })
        .collect()
}

/// `stacks` all share the same first `depth` frames (the path to this node)
/// and are sorted. A child whose stacks add up to less than `min_time` is not
/// built; its time becomes this node's own. With `self_rows`, a frame's own
/// time (the stacks ending at it) becomes a `[self]` child when it reaches
/// `min_time` and the frame has other children left.
fn build_node(
    frame: Option<u32>,
    stacks: &[(&[u32], f64, f64)],
    depth: usize,
    min_time: f64,
    self_rows: bool,
) -> Node {
    let mut own = 0.0;
    let mut own_cpu = 0.0;
    let mut self_time = 0.0;
    let mut self_cpu = 0.0;
    let mut children = Vec::new();
    let mut i = 0;
    while i < stacks.len() {
        let (frames, time, cpu) = stacks[i];
        if frames.len() == depth {
            // Shorter stacks sort first: this stack ends at this node.
            own += time;
            own_cpu += cpu;
            i += 1;
            continue;
        }
        let child_frame = frames[depth];
        let start = i;
        let mut child_time = 0.0;
        let mut child_cpu = 0.0;
        while i < stacks.len() && stacks[i].0.len() > depth && stacks[i].0[depth] == child_frame {
            child_time += stacks[i].1;
            child_cpu += stacks[i].2;
            i += 1;
        }
        if child_time < min_time {
            self_time += child_time;
            self_cpu += child_cpu;
        } else {
            children.push(build_node(
                Some(child_frame),
                &stacks[start..i],
                depth + 1,
                min_time,
                self_rows,
            ));
        }
    }
    if self_rows && frame.is_some() && !children.is_empty() && own > 0.0 && own >= min_time {
        children.push(Node::self_row(own).with_self_cpu(own_cpu));
    } else {
        self_time += own;
        self_cpu += own_cpu;
    }
    Node::new(frame, self_time, children).with_self_cpu(self_cpu)
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

/// Whose code a frame is, as far as reports are concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The program's own code.
    Application,
    /// The standard library, site-packages, anything under the
    /// interpreter's prefixes, `<frozen ...>`, `<built-in>`, and generated
    /// code such as `<attrs generated init>`.
    Library,
    /// `<string>` and `<stdin>` (`exec`/`eval`): whoever called it.
    Caller,
}

/// Classifies `frame` by the library directories recorded in the session.
/// `<ipython-input-N-...>` (code typed in IPython) is the user's own.
pub fn origin(frame: &FrameId, library_dirs: &[String]) -> Origin {
    let file = frame.file.as_str();
    if file == crate::sample::THREAD_FILE {
        return Origin::Application;
    }
    if is_pseudo_file(file) {
        return if file == "<string>" || file == "<stdin>" {
            Origin::Caller
        } else if file.starts_with("<ipython-input-") {
            Origin::Application
        } else {
            Origin::Library
        };
    }
    if library_dirs
        .iter()
        .any(|d| !d.is_empty() && path_is_under(file, d))
    {
        Origin::Library
    } else {
        Origin::Application
    }
}

/// "Application code" out of context: `<string>` counts as library here
/// (where its caller is known, `Origin::Caller` says more).
pub fn is_application(frame: &FrameId, library_dirs: &[String]) -> bool {
    origin(frame, library_dirs) == Origin::Application
}

/// The name of the package or module a library frame belongs to, as a
/// `[N frames hidden]` row lists it: the first component of its short path
/// (`django/template/base.py` -> `django`, `json/encoder.py` -> `json`,
/// `<frozen posixpath>` -> `posixpath`); `None` for `<string>` and the like.
pub fn library_name(frame: &FrameId, sys_path: &[String]) -> Option<String> {
    let file = frame.file.as_str();
    if let Some(module) = file
        .strip_prefix("<frozen ")
        .and_then(|rest| rest.strip_suffix('>'))
    {
        return module.split('.').next().map(str::to_string);
    }
    // `<built-in>` functions are what the library called, not a library.
    if is_pseudo_file(file) {
        return None;
    }
    let short = short_path(file, sys_path);
    let components: Vec<&str> = short.split(['/', '\\']).filter(|c| !c.is_empty()).collect();
    let name = if short.len() == file.len() && (file.starts_with('/') || file.starts_with('\\')) {
        // Under no sys.path entry: name it by its module (or package).
        match components.as_slice() {
            [.., package, "__init__.py"] => package,
            [.., module] => module.split('.').next().unwrap_or(module),
            [] => "",
        }
    } else {
        match components.as_slice() {
            // A module at the top of its directory: its name without `.py`.
            [module] => module.split('.').next().unwrap_or(module),
            [package, ..] => package,
            [] => "",
        }
    };
    (!name.is_empty()).then(|| name.to_string())
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
/// built-ins (`<built-in>`), whose line means nothing; nothing for a
/// thread's root (`Thread 'name' (tid N)` says it all).
pub fn location(frame: &FrameId, sys_path: &[String]) -> String {
    if frame.file == crate::sample::THREAD_FILE {
        String::new()
    } else if frame.is_builtin() {
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
            stack_cpu_times: Vec::new(),
            thread_cpu_time: None,
            target_description: None,
            threads: Vec::new(),
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
            let ctx = crate::processors::Context::new(&s.frames, 1.0, min_time);
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
            synthetic: None,
            self_cpu: 0.0,
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
