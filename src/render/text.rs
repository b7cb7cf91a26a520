//! The terminal report: a short header, then the call tree as the seed draws
//! it (`0.512 compute  demo.py:12`, children longest first, box-drawing or
//! ascii lines, optional colour by share of the total), with library code
//! collapsed into `[N frames hidden]  pkg, pkg` rows and `[self]` rows; or,
//! with `flat`, one line per function.

use super::{
    header, is_break, precision, report_tree, share, timeline_drawable, timeline_note, FlatTime,
    RenderOptions, Sink, TimeFormat,
};
use crate::session::{Session, TimeKind};
use crate::tree::{location, Node, Synthetic};
use ansi_term::{Colour, Style};
use std::collections::HashMap;
use std::fmt::Write;

/// Nodes under this share of the total are hidden (unless `show_all` or
/// another `filter_threshold`).
pub const MIN_FRACTION: f64 = 0.01;

/// A flat profile leaves out functions under this share of the total
/// (unless `show_all` or another `filter_threshold`), as pyinstrument does.
pub const FLAT_MIN_FRACTION: f64 = 0.001;

/// Longest list of libraries a `[N frames hidden]` row prints.
const LIBRARIES_WIDTH: usize = 40;

struct Lines {
    branch: &'static str,
    last: &'static str,
    pipe: &'static str,
    space: &'static str,
    ellipsis: &'static str,
}

const UNICODE: Lines = Lines {
    branch: "├─ ",
    last: "└─ ",
    pipe: "│  ",
    space: "   ",
    ellipsis: "…",
};
const ASCII: Lines = Lines {
    branch: "|- ",
    last: "`- ",
    pipe: "|  ",
    space: "   ",
    ellipsis: "...",
};

struct Renderer<'a> {
    session: &'a Session,
    options: &'a RenderOptions,
    lines: &'static Lines,
    total: f64,
    precision: usize,
    /// Whether rows show their CPU time where it differs from their wall
    /// time: a wall-clock tree of a session that recorded CPU time per
    /// stack (not a timeline, whose log has no CPU time).
    show_cpu: bool,
    out: Sink<'a>,
}

pub fn write(
    session: &Session,
    options: &RenderOptions,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    let mut out = Sink::new(out);
    let h = header(session);
    let _ = match &h.description {
        Some(description) => writeln!(out, "{}", clean(description)),
        None => writeln!(out, "Program: {}", clean(&h.program)),
    };
    let _ = writeln!(out, "{}", h.summary);
    for note in h.notes.iter().chain(&timeline_note(session, options)) {
        let _ = writeln!(out, "Note: {}", clean(note));
    }
    out.push('\n');

    let (root, total) = report_tree(session, options, MIN_FRACTION);
    if session.stacks.is_empty() || total <= 0.0 {
        out.push_str("No samples were recorded.\n");
        return out.finish();
    }
    let mut r = Renderer {
        session,
        options,
        lines: if options.unicode { &UNICODE } else { &ASCII },
        total,
        precision: precision(session.interval),
        show_cpu: session.cpu_known()
            && options.time_kind == TimeKind::Wall
            && !timeline_drawable(session, options),
        out,
    };
    if options.flat {
        r.flat(&root);
        return r.out.finish();
    }
    if root.children.is_empty() {
        let threshold = options.filter_threshold.unwrap_or(MIN_FRACTION);
        let _ = writeln!(
            r.out,
            "Every call took under {}% of the total time; show all nodes to see them.",
            threshold * 100.0
        );
        return r.out.finish();
    }
    for top in &root.children {
        r.node(top, "", "");
    }
    r.out.finish()
}

impl<'a> Renderer<'a> {
    /// Writes `node`'s line after `lead` (indent plus connector) and its
    /// children indented by `indent`.
    fn node(&mut self, node: &Node, lead: &str, indent: &str) {
        self.line(node, lead);
        self.children(node, indent);
    }

    fn children(&mut self, node: &Node, indent: &str) {
        let n = node.children.len();
        for (i, child) in node.children.iter().enumerate() {
            let last = i + 1 == n;
            let (connector, continuation) = if last {
                (self.lines.last, self.lines.space)
            } else {
                (self.lines.branch, self.lines.pipe)
            };
            if let Some(Synthetic::Hidden { frames, libraries }) = &child.synthetic {
                // pyinstrument's shape: the row sits under its entry frame,
                // where a child's connector would be (the vertical line
                // continues if siblings follow); what it calls back hangs
                // below it.
                let lead = format!("{indent}{continuation}");
                self.hidden_row(*frames, libraries, &lead);
                self.children(child, &format!("{indent}{continuation}"));
            } else {
                let lead = format!("{indent}{connector}");
                self.node(child, &lead, &format!("{indent}{continuation}"));
            }
        }
    }

    fn time_text(&self, time: f64) -> String {
        match self.options.time {
            TimeFormat::Seconds => format!("{:.*}", self.precision, time),
            TimeFormat::PercentOfTotal => format!("{:.1}%", share(time, self.total) * 100.0),
        }
    }

    fn time_style(&self, time: f64) -> Style {
        let s = share(time, self.total);
        if s > 0.6 {
            Colour::Red.normal()
        } else if s > 0.2 {
            Colour::Yellow.normal()
        } else if s > 0.05 {
            Colour::Green.normal()
        } else {
            Style::new().dimmed()
        }
    }

    fn line(&mut self, node: &Node, lead: &str) {
        let (function, loc) = match (
            node.frame.and_then(|f| self.session.frames.get(f as usize)),
            &node.synthetic,
        ) {
            (Some(frame), _) => (
                clean(&frame.function),
                clean(&location(frame, &self.session.sys_path)),
            ),
            (None, Some(Synthetic::SelfTime)) => ("[self]".to_string(), String::new()),
            (None, _) => ("[root]".to_string(), String::new()),
        };
        let cpu = self.show_cpu.then(|| node.cpu());
        self.described(node.time, cpu, &function, &loc, lead);
    }

    /// Whether a row's CPU time is worth showing beside its wall time: it
    /// differs by more than the report's precision and 5 %.
    fn cpu_differs(&self, time: f64, cpu: f64) -> bool {
        let unit = 10f64.powi(-(self.precision as i32));
        (time - cpu).abs() > unit.max(time * 0.05)
    }

    /// `lead`, then `time function  location`, then `  cpu T` where the
    /// CPU time differs, coloured when asked.
    fn described(&mut self, time: f64, cpu: Option<f64>, function: &str, loc: &str, lead: &str) {
        let cpu = cpu
            .filter(|&cpu| self.cpu_differs(time, cpu))
            .map(|cpu| format!("cpu {}", self.time_text(cpu)));
        let time_text = self.time_text(time);
        self.out.push_str(lead);
        if self.options.color {
            let _ = write!(
                self.out,
                "{} {}",
                self.time_style(time).paint(time_text),
                function
            );
            if !loc.is_empty() {
                let _ = write!(self.out, "  {}", Style::new().dimmed().paint(loc));
            }
            if let Some(cpu) = cpu {
                let _ = write!(self.out, "  {}", Colour::Cyan.paint(cpu));
            }
        } else {
            let _ = write!(self.out, "{} {}", time_text, function);
            if !loc.is_empty() {
                let _ = write!(self.out, "  {}", loc);
            }
            if let Some(cpu) = cpu {
                let _ = write!(self.out, "  {}", cpu);
            }
        }
        self.out.push('\n');
    }

    fn hidden_row(&mut self, frames: usize, libraries: &[String], lead: &str) {
        let mut names = clean(&libraries.join(", "));
        if names.chars().count() > LIBRARIES_WIDTH {
            let ellipsis = self.lines.ellipsis;
            let keep = LIBRARIES_WIDTH - ellipsis.chars().count();
            names = names.chars().take(keep).collect::<String>() + ellipsis;
        }
        let _ = write!(self.out, "{lead}[{frames} frames hidden]");
        if !names.is_empty() {
            if self.options.color {
                let _ = write!(self.out, "  {}", Style::new().dimmed().paint(names));
            } else {
                let _ = write!(self.out, "  {names}");
            }
        }
        self.out.push('\n');
    }

    /// One line per function, most time first: its own time (`flat_time`
    /// self) or its time including what it called (total; a recursive
    /// function's inner calls are not counted twice).
    fn flat(&mut self, root: &Node) {
        let mut times: HashMap<u32, f64> = HashMap::new();
        let mut on_path: Vec<u32> = Vec::new();
        flat_times(root, self.options.flat_time, &mut on_path, &mut times);
        let mut rows: Vec<(u32, f64)> = times.into_iter().collect();
        let frames = &self.session.frames;
        rows.sort_by(|a, b| {
            b.1.partial_cmp(&a.1)
                .unwrap_or(std::cmp::Ordering::Equal)
                .then_with(|| frames[a.0 as usize].cmp(&frames[b.0 as usize]))
        });
        let threshold = if self.options.show_all {
            0.0
        } else {
            self.options.filter_threshold.unwrap_or(FLAT_MIN_FRACTION)
        };
        for (frame, time) in rows {
            if time <= 0.0 || share(time, self.total) < threshold {
                continue;
            }
            let f = &frames[frame as usize];
            let function = clean(&f.function);
            let loc = clean(&location(f, &self.session.sys_path));
            self.described(time, None, &function, &loc, "");
        }
    }
}

fn flat_times(node: &Node, mode: FlatTime, on_path: &mut Vec<u32>, times: &mut HashMap<u32, f64>) {
    if let Some(frame) = node.frame {
        let time = match mode {
            FlatTime::SelfTime => node.self_time,
            // Only the outermost call of a function on a path counts.
            FlatTime::Total if on_path.contains(&frame) => 0.0,
            FlatTime::Total => node.time,
        };
        *times.entry(frame).or_insert(0.0) += time;
        on_path.push(frame);
    }
    for child in &node.children {
        flat_times(child, mode, on_path, times);
    }
    if node.frame.is_some() {
        on_path.pop();
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

    fn render(session: &Session, options: &RenderOptions) -> String {
        let mut out = Vec::new();
        write(session, options, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }
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
            stack_cpu_times: Vec::new(),
            thread_cpu_time: None,
            target_description: None,
            threads: Vec::new(),
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
    fn rows_show_cpu_time_where_it_differs_and_cpu_weighs_the_tree() {
        let mut s = session(vec![
            (vec![0, 1, 2], 0.6),
            (vec![0, 1, 3], 0.3),
            (vec![0, 1, 4], 0.1),
        ]);
        // compute ran the whole time, sleep only slept, bad?name half.
        s.stack_cpu_times = vec![0.59, 0.0, 0.05];
        s.thread_cpu_time = Some(0.64);
        let out = render(&s, &RenderOptions::default());
        assert!(
            out.ends_with(
                "1.000 <module>  demo.py:1  cpu 0.640\n\
                 `- 1.000 main  demo.py:10  cpu 0.640\n\
                 \x20  |- 0.600 compute  demo.py:20\n\
                 \x20  |- 0.300 sleep  <built-in>  cpu 0.000\n\
                 \x20  `- 0.100 bad?name  demo.py:30  cpu 0.050\n"
            ),
            "{out}"
        );
        // Weighted by CPU: the tree is the CPU split, and no second column.
        let cpu = crate::render::render(
            &s,
            crate::render::Format::Text,
            &RenderOptions {
                time_kind: TimeKind::Cpu,
                ..Default::default()
            },
        );
        assert!(
            cpu.contains("Note: times are the profiled thread's CPU time"),
            "{cpu}"
        );
        assert!(
            cpu.ends_with(
                "0.640 <module>  demo.py:1\n\
                 `- 0.640 main  demo.py:10\n\
                 \x20  |- 0.590 compute  demo.py:20\n\
                 \x20  `- 0.050 bad?name  demo.py:30\n"
            ),
            "{cpu}"
        );
        // Pruned rows' CPU time stays in their parent, like their time.
        let mut tiny = s.clone();
        tiny.stacks.push(StackRecord {
            frames: vec![0, 1, 4, 2],
            time: 0.001,
            samples: 1,
        });
        tiny.stack_cpu_times.push(0.001);
        let (root, _) = report_tree(&tiny, &RenderOptions::default(), MIN_FRACTION);
        assert!((root.cpu() - 0.641).abs() < 1e-12, "{root:?}");
        let main = &root.children[0].children[0];
        let bad = main.children.iter().find(|c| c.frame == Some(4)).unwrap();
        assert!(bad.children.is_empty() && (bad.self_cpu - 0.051).abs() < 1e-12);
        // A session without CPU times shows none (the golden reports).
        s.stack_cpu_times.clear();
        s.thread_cpu_time = None;
        assert!(!render(&s, &RenderOptions::default()).contains("cpu"));
    }

    #[test]
    fn show_all_shows_root_and_tiny_nodes() {
        let s = session(vec![(vec![0, 1, 2], 1.0), (vec![0, 1, 3], 0.001)]);
        let out = render(
            &s,
            &RenderOptions {
                unicode: true,
                show_all: true,
                ..Default::default()
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
                color: true,
                ..Default::default()
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

    #[test]
    fn a_target_description_replaces_the_program_line() {
        let mut s = session(vec![(vec![0, 1], 1.0)]);
        s.target_description = Some("Cell [3]\nof the notebook".to_string());
        let out = render(&s, &RenderOptions::default());
        assert!(
            out.starts_with("Cell [3]?of the notebook\nDuration:"),
            "{out}"
        );
        assert!(!out.contains("Program:"), "{out}");
    }
}
