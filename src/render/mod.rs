//! Renderers: one file per output format. They see only a `Session` (plain
//! data) and the call tree built from it; never a sampler or the ffi layer.

pub mod collapsed;
pub mod html;
pub mod json;
pub mod speedscope;
pub mod text;

use crate::processors::{self, Context, Processor};
use crate::session::Session;
use crate::tree::{self, Node};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Html,
    Json,
    Speedscope,
    Collapsed,
}

const NAMES: &[&str] = &["text", "html", "json", "speedscope", "collapsed"];

impl Format {
    /// The format called `name` ("text", "html", "json", "speedscope",
    /// "collapsed"), as on the command line.
    pub fn from_name(name: &str) -> Option<Format> {
        match name {
            "text" => Some(Format::Text),
            "html" => Some(Format::Html),
            "json" => Some(Format::Json),
            "speedscope" => Some(Format::Speedscope),
            "collapsed" => Some(Format::Collapsed),
            _ => None,
        }
    }

    /// The format implied by an output file's extension (case-insensitive):
    /// `.html`/`.htm`, `.speedscope.json` (before `.json`), `.json`, `.txt`,
    /// `.collapsed`; `None` for anything else.
    pub fn from_path(path: &str) -> Option<Format> {
        let lower = path.to_ascii_lowercase();
        if lower.ends_with(".html") || lower.ends_with(".htm") {
            Some(Format::Html)
        } else if lower.ends_with(".speedscope.json") {
            Some(Format::Speedscope)
        } else if lower.ends_with(".json") {
            Some(Format::Json)
        } else if lower.ends_with(".txt") {
            Some(Format::Text)
        } else if lower.ends_with(".collapsed") {
            Some(Format::Collapsed)
        } else {
            None
        }
    }

    pub fn names() -> &'static [&'static str] {
        NAMES
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Html => "html",
            Format::Json => "json",
            Format::Speedscope => "speedscope",
            Format::Collapsed => "collapsed",
        }
    }
}

/// How to render. `unicode` and `color` are already decided by the caller
/// (terminal detection is not the renderers' business); `show_all` shows
/// every node from the root, with no pruning of small ones.
#[derive(Clone, Debug, Default)]
pub struct RenderOptions {
    pub unicode: bool,
    pub color: bool,
    pub show_all: bool,
}

/// Renders `session` in `format`. Never fails: every session, including one
/// without samples, has a rendering.
pub fn render(session: &Session, format: Format, options: &RenderOptions) -> String {
    match format {
        Format::Text => text::render(session, options),
        Format::Html => html::render(session, options),
        Format::Json => json::render(session),
        Format::Speedscope => speedscope::render(session),
        Format::Collapsed => collapsed::render(session),
    }
}

/// The header lines shared by the text and HTML reports.
pub(crate) struct Header {
    pub program: String,
    pub summary: String,
    pub notes: Vec<String>,
}

pub(crate) fn header(session: &Session) -> Header {
    Header {
        program: command_line(&session.command_line),
        summary: format!(
            "Duration: {:.3} s   Samples: {}   CPU time: {:.3} s   Mode: {} (interval {} ms)",
            session.duration,
            session.sample_count,
            session.cpu_time,
            session.mode,
            interval_ms(session.interval)
        ),
        notes: session.notes.clone(),
    }
}

/// `0.001` -> "1", `0.0005` -> "0.5": milliseconds without trailing zeros.
fn interval_ms(seconds: f64) -> String {
    let s = format!("{:.3}", seconds * 1000.0);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

/// The command line as a shell would need it typed: arguments with spaces
/// or shell metacharacters single-quoted.
fn command_line(args: &[String]) -> String {
    let quote = |a: &String| {
        let plain = !a.is_empty()
            && a.chars()
                .all(|c| c.is_alphanumeric() || "-_./=:,+@%".contains(c));
        if plain {
            a.clone()
        } else {
            format!("'{}'", a.replace('\'', "'\\''"))
        }
    };
    args.iter().map(quote).collect::<Vec<_>>().join(" ")
}

/// The transforms a human-facing report applies to the call tree, in order
/// (with `show_all`, only the sort).
///
/// The tree always starts at the program's first frame, as the seed's does:
/// a report shows every caller of where the time went. (Descending to the
/// first node that branches or has time of its own, as an earlier version
/// did, dropped `<module>` and every caller above such a node, e.g. above a
/// function that both loops and calls helpers.)
pub const DISPLAY_PROCESSORS: &[Processor] = &[processors::prune_small, processors::sort_by_time];

/// The tree a human-facing report shows, and the total its shares are of.
/// Unless `show_all`: nodes under `min_fraction` of the total pruned;
/// always: children longest first.
pub(crate) fn display_tree(session: &Session, min_fraction: f64, show_all: bool) -> (Node, f64) {
    let total = tree::total_time(session);
    let root = if show_all {
        tree::build(session)
    } else {
        // Same result as build + prune_small, without building what would go.
        tree::build_pruned(session, min_fraction * total)
    };
    let ctx = Context {
        frames: &session.frames,
        total,
        min_fraction,
    };
    let steps: &[Processor] = if show_all {
        &[processors::sort_by_time]
    } else {
        DISPLAY_PROCESSORS
    };
    (processors::apply(root, &ctx, steps), total)
}

/// Characters that must not reach a line-oriented output inside a name:
/// control characters (newlines, escape sequences) and the Unicode line and
/// paragraph separators.
pub(crate) fn is_break(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// The share of the total a node's time is (0 when nothing was recorded).
pub(crate) fn share(time: f64, total: f64) -> f64 {
    if total > 0.0 {
        time / total
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_names_round_trip() {
        for name in Format::names() {
            assert_eq!(Format::from_name(name).unwrap().name(), *name);
        }
        assert_eq!(Format::from_name("pdf"), None);
    }

    #[test]
    fn format_from_path() {
        assert_eq!(Format::from_path("out/report.HTML"), Some(Format::Html));
        assert_eq!(
            Format::from_path("p.speedscope.json"),
            Some(Format::Speedscope)
        );
        assert_eq!(Format::from_path("p.json"), Some(Format::Json));
        assert_eq!(Format::from_path("p.txt"), Some(Format::Text));
        assert_eq!(Format::from_path("p.collapsed"), Some(Format::Collapsed));
        assert_eq!(Format::from_path("p.out"), None);
        assert_eq!(Format::from_path("html"), None);
    }

    /// `<module> -> level1 -> busy`, where busy both has time of its own
    /// and calls `tick`: the tree branches only at busy, and every caller
    /// above it must still be shown.
    #[test]
    fn display_tree_starts_at_the_first_frame() {
        use crate::sample::{FrameId, StackRecord};
        let frames = [("<module>", 1), ("level1", 5), ("busy", 9), ("tick", 14)];
        let stacks = [(vec![0, 1, 2], 0.7), (vec![0, 1, 2, 3], 0.3)];
        let session = Session {
            format_version: crate::session::FORMAT_VERSION,
            start_time: 0.0,
            duration: 1.0,
            cpu_time: 1.0,
            sample_count: 1000,
            interval: 0.001,
            mode: "signal".into(),
            command_line: vec!["callers.py".into()],
            python_version: "3.11.0".into(),
            sys_path: vec![],
            library_dirs: vec![],
            notes: vec![],
            timeline: Vec::new(),
            frames: frames
                .iter()
                .map(|(name, line)| FrameId::new(name, "callers.py", *line))
                .collect(),
            stacks: stacks
                .iter()
                .map(|(frames, time)| StackRecord {
                    frames: frames.clone(),
                    time: *time,
                    samples: 1,
                })
                .collect(),
        };
        for show_all in [false, true] {
            let (root, total) = display_tree(&session, 0.01, show_all);
            root.check_invariant().unwrap();
            assert!((total - 1.0).abs() < 1e-12);
            let mut path = Vec::new();
            let mut node = &root;
            while let Some(child) = node.children.first() {
                path.push(
                    session.frames[child.frame.unwrap() as usize]
                        .function
                        .as_str(),
                );
                node = child;
            }
            assert_eq!(root.frame, None, "show_all: {show_all}");
            assert_eq!(
                path,
                ["<module>", "level1", "busy", "tick"],
                "show_all: {show_all}"
            );
        }
    }

    #[test]
    fn header_helpers() {
        assert_eq!(interval_ms(0.001), "1");
        assert_eq!(interval_ms(0.0005), "0.5");
        assert_eq!(interval_ms(0.01), "10");
        let args: Vec<String> = ["demo.py", "a b", "it's", ""]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(command_line(&args), "demo.py 'a b' 'it'\\''s' ''");
    }
}
