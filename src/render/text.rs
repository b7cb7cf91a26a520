//! The terminal report: a short header, then the call tree as the seed draws
//! it (`0.512 compute  demo.py:12`, children longest first, box-drawing or
//! ascii lines, optional colour by share of the total).

use super::{display_tree, header, is_break, share, RenderOptions};
use crate::session::Session;
use crate::tree::{location, Node};
use ansi_term::{Colour, Style};
use std::fmt::Write;

/// Nodes under this share of the total are hidden (unless `show_all`).
pub const MIN_FRACTION: f64 = 0.01;

struct Lines {
    branch: &'static str,
    last: &'static str,
    pipe: &'static str,
    space: &'static str,
}

const UNICODE: Lines = Lines {
    branch: "├─ ",
    last: "└─ ",
    pipe: "│  ",
    space: "   ",
};
const ASCII: Lines = Lines {
    branch: "|- ",
    last: "`- ",
    pipe: "|  ",
    space: "   ",
};

struct Renderer<'a> {
    session: &'a Session,
    lines: &'static Lines,
    color: bool,
    total: f64,
    out: String,
}

pub fn render(session: &Session, options: &RenderOptions) -> String {
    let mut out = String::new();
    let h = header(session);
    let _ = writeln!(out, "Program: {}", clean(&h.program));
    let _ = writeln!(out, "{}", h.summary);
    for note in &h.notes {
        let _ = writeln!(out, "Note: {}", clean(note));
    }
    out.push('\n');

    let (root, total) = display_tree(session, MIN_FRACTION, options.show_all);
    if session.stacks.is_empty() || total <= 0.0 {
        out.push_str("No samples were recorded.\n");
        return out;
    }
    let tops: Vec<&Node> = if root.frame.is_none() {
        root.children.iter().collect()
    } else {
        vec![&root]
    };
    if tops.is_empty() {
        out.push_str("Every call took under 1% of the total time; show all nodes to see them.\n");
        return out;
    }
    let mut r = Renderer {
        session,
        lines: if options.unicode { &UNICODE } else { &ASCII },
        color: options.color,
        total,
        out,
    };
    for top in tops {
        r.node(top, "", "");
    }
    r.out
}

impl<'a> Renderer<'a> {
    /// Writes `node`'s line after `lead` (indent plus connector) and its
    /// children indented by `indent`.
    fn node(&mut self, node: &Node, lead: &str, indent: &str) {
        self.line(node, lead);
        let n = node.children.len();
        for (i, child) in node.children.iter().enumerate() {
            let last = i + 1 == n;
            let lead = format!(
                "{}{}",
                indent,
                if last {
                    self.lines.last
                } else {
                    self.lines.branch
                }
            );
            let indent = format!(
                "{}{}",
                indent,
                if last {
                    self.lines.space
                } else {
                    self.lines.pipe
                }
            );
            self.node(child, &lead, &indent);
        }
    }

    fn line(&mut self, node: &Node, lead: &str) {
        let (function, loc) = match node.frame.and_then(|f| self.session.frames.get(f as usize)) {
            Some(frame) => (
                clean(&frame.function),
                clean(&location(frame, &self.session.sys_path)),
            ),
            None => ("[root]".to_string(), String::new()),
        };
        let time = format!("{:.3}", node.time);
        self.out.push_str(lead);
        if self.color {
            let s = share(node.time, self.total);
            let style = if s > 0.6 {
                Colour::Red.normal()
            } else if s > 0.2 {
                Colour::Yellow.normal()
            } else if s > 0.05 {
                Colour::Green.normal()
            } else {
                Style::new().dimmed()
            };
            let _ = write!(
                self.out,
                "{} {}  {}",
                style.paint(time),
                function,
                Style::new().dimmed().paint(loc)
            );
        } else {
            let _ = write!(self.out, "{} {}  {}", time, function, loc);
        }
        self.out.push('\n');
    }
}

/// Replaces control characters (a newline or an escape sequence in a name
/// must not break the tree or drive the terminal) with `?`.
fn clean(s: &str) -> String {
    if s.chars().any(is_break) {
        s.chars()
            .map(|c| if is_break(c) { '?' } else { c })
            .collect()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{FrameId, StackRecord};
    use crate::session::FORMAT_VERSION;

    fn session(stacks: Vec<(Vec<u32>, f64)>) -> Session {
        Session {
            format_version: FORMAT_VERSION,
            start_time: 0.0,
            duration: 1.0,
            cpu_time: 0.5,
            sample_count: 10,
            interval: 0.001,
            mode: "signal".into(),
            command_line: vec!["demo.py".into(), "arg".into()],
            python_version: "3.11.0".into(),
            sys_path: vec!["/proj".into()],
            library_dirs: vec![],
            notes: vec![],
            timeline: Vec::new(),
            frames: vec![
                FrameId::new("<module>", "/proj/demo.py", 1),
                FrameId::new("main", "/proj/demo.py", 10),
                FrameId::new("compute", "/proj/demo.py", 20),
                FrameId::new("sleep", "<built-in>", 0),
                FrameId::new("bad\nname", "/proj/demo.py", 30),
            ],
            stacks: stacks
                .into_iter()
                .map(|(frames, time)| StackRecord {
                    frames,
                    time,
                    samples: 1,
                })
                .collect(),
        }
    }

    #[test]
    fn ascii_tree_starts_at_the_first_frame() {
        let s = session(vec![
            (vec![0, 1, 2], 0.6),
            (vec![0, 1, 3], 0.3),
            (vec![0, 1, 4], 0.1),
            (vec![0, 1], 0.001),
        ]);
        let out = render(&s, &RenderOptions::default());
        let expected = "Program: demo.py arg\n\
            Duration: 1.000 s   Samples: 10   CPU time: 0.500 s   Mode: signal (interval 1 ms)\n\
            \n\
            1.001 <module>  demo.py:1\n\
            `- 1.001 main  demo.py:10\n\
            \x20  |- 0.600 compute  demo.py:20\n\
            \x20  |- 0.300 sleep  <built-in>\n\
            \x20  `- 0.100 bad?name  demo.py:30\n";
        assert_eq!(out, expected);
    }

    #[test]
    fn show_all_shows_root_and_tiny_nodes() {
        let s = session(vec![(vec![0, 1, 2], 1.0), (vec![0, 1, 3], 0.001)]);
        let out = render(
            &s,
            &RenderOptions {
                unicode: true,
                color: false,
                show_all: true,
            },
        );
        assert!(out.ends_with(
            "1.001 <module>  demo.py:1\n└─ 1.001 main  demo.py:10\n   ├─ 1.000 compute  demo.py:20\n   └─ 0.001 sleep  <built-in>\n"
        ), "{}", out);
        let hidden = render(&s, &RenderOptions::default());
        assert!(!hidden.contains("sleep"), "{}", hidden);
    }

    #[test]
    fn colour_by_share() {
        let s = session(vec![
            (vec![0, 1, 2], 0.7),
            (vec![0, 1, 3], 0.25),
            (vec![0, 1, 4], 0.05),
        ]);
        let out = render(
            &s,
            &RenderOptions {
                unicode: false,
                color: true,
                show_all: false,
            },
        );
        assert!(
            out.contains("\x1b[31m1.000\x1b[0m main  \x1b[2mdemo.py:10\x1b[0m"),
            "{:?}",
            out
        );
        assert!(out.contains("\x1b[31m0.700\x1b[0m compute"), "{:?}", out);
        assert!(out.contains("\x1b[33m0.250\x1b[0m sleep"), "{:?}", out);
        assert!(out.contains("\x1b[2m0.050\x1b[0m bad?name"), "{:?}", out);
    }

    #[test]
    fn no_samples_is_a_message_after_the_header() {
        let s = session(vec![]);
        let out = render(&s, &RenderOptions::default());
        assert!(out.starts_with("Program: demo.py arg\n"));
        assert!(out.ends_with("\nNo samples were recorded.\n"));
    }
}
