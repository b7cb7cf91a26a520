//! Renderers: one file per output format. They see only a `Session` (plain
//! data) and the call tree built from it; never a sampler or the ffi layer.
//! Each writes its report to an `io::Write` (a buffered file or stdout, in
//! `output`), so that a large report streams to its destination instead of
//! being built whole first; `render` collects one into a `String` for the
//! Python API and the tests.

pub mod collapsed;
pub mod html;
pub mod json;
pub mod options;
pub mod pstats;
pub mod speedscope;
pub mod text;

pub use options::{FlatTime, RenderOptions, TimeFormat, TimeKind};

use crate::processors::{self, Context, Hiding, Processor};
use crate::session::Session;
use crate::tree::{self, Node, Origin};
use std::io;

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

/// Writes `session`'s report in `format` to `out`. Every session,
/// including one without samples, has a rendering: the only errors are
/// `out`'s.
pub fn write(
    session: &Session,
    format: Format,
    options: &RenderOptions,
    out: &mut dyn io::Write,
) -> io::Result<()> {
    let merged;
    let session = if options.merge_threads && format != Format::Json {
        merged = session.merged_threads();
        &merged
    } else {
        session
    };
    // Speedscope always carries both clocks, as two profiles; JSON is the
    // session itself.
    let weighted;
    let session = match (options.time_kind, format) {
        (_, Format::Json | Format::Speedscope) | (options::TimeKind::Wall, _) => session,
        // The page can show either clock, so it gets both (`html::HtmlView::cpu_total`).
        (options::TimeKind::Cpu, Format::Html) if session.cpu_known() => session,
        (options::TimeKind::Cpu, _) => {
            weighted = session.weighted_by_cpu().unwrap_or_else(|| {
                let mut wall = session.clone();
                wall.notes.push(
                    "this profile did not record CPU time per stack (JSON format version 2 or older): times are wall-clock"
                        .to_string(),
                );
                wall
            });
            &weighted
        }
    };
    match format {
        Format::Text => text::write(session, options, out),
        Format::Html => html::write(session, options, out),
        Format::Json => json::write(session, out),
        Format::Speedscope => speedscope::write(session, out),
        Format::Collapsed => collapsed::write(session, out),
    }
}

/// `write` into a `String`: the report as text (every format is UTF-8).
pub fn render(session: &Session, format: Format, options: &RenderOptions) -> String {
    let mut out = Vec::new();
    write(session, format, options, &mut out).expect("writing to memory does not fail");
    String::from_utf8(out).expect("reports are UTF-8")
}

/// Text written with `write!` to an `io::Write`, keeping the first I/O
/// error (a renderer formats many small pieces; it checks once, at the end,
/// with `finish`). After an error nothing more is written.
pub(crate) struct Sink<'w> {
    out: &'w mut dyn io::Write,
    error: Option<io::Error>,
}

impl<'w> Sink<'w> {
    pub(crate) fn new(out: &'w mut dyn io::Write) -> Sink<'w> {
        Sink { out, error: None }
    }

    pub(crate) fn push_str(&mut self, text: &str) {
        let _ = std::fmt::Write::write_str(self, text);
    }

    pub(crate) fn push(&mut self, c: char) {
        let _ = std::fmt::Write::write_char(self, c);
    }

    /// The first error met, if any.
    pub(crate) fn finish(self) -> io::Result<()> {
        self.error.map_or(Ok(()), Err)
    }
}

impl std::fmt::Write for Sink<'_> {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        if self.error.is_some() {
            return Err(std::fmt::Error);
        }
        self.out.write_all(text.as_bytes()).map_err(|e| {
            self.error = Some(e);
            std::fmt::Error
        })
    }
}

/// The header lines shared by the text and HTML reports.
pub(crate) struct Header {
    pub program: String,
    /// The session's target description, shown instead of `Program:
    /// <program>` when there is one.
    pub description: Option<String>,
    pub summary: String,
    pub notes: Vec<String>,
}

pub(crate) fn header(session: &Session) -> Header {
    Header {
        program: command_line(&session.command_line),
        description: session.target_description.clone(),
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

/// The transforms a human-facing report applies to the call tree by
/// default, in order (see `processors` for each one's reason).
///
/// The tree always starts at the program's first frame, as the seed's does:
/// a report shows every caller of where the time went. (Descending to the
/// first node that branches or has time of its own, as an earlier version
/// did, dropped `<module>` and every caller above such a node, e.g. above a
/// function that both loops and calls helpers.)
pub const DISPLAY_PROCESSORS: &[Processor] = &[
    processors::remove_runpy_root,
    processors::remove_importlib,
    processors::remove_tracebackhide,
    processors::add_self_rows,
    processors::prune_small,
    processors::drop_lonely_self_rows,
    processors::group_library_frames,
    processors::sort_by_time,
];

/// The processing context of `session` under `options`: which frames may
/// be hidden (`--show`/`--hide`, else library code as recorded in the
/// session), what library each belongs to, and the threshold.
pub fn context<'a>(
    session: &'a Session,
    options: &RenderOptions,
    total: f64,
    min_fraction: f64,
) -> Context<'a> {
    let hiding = session
        .frames
        .iter()
        .map(|frame| {
            if options
                .show
                .as_ref()
                .is_some_and(|r| r.is_match(&frame.file))
            {
                Hiding::Show
            } else if options
                .hide
                .as_ref()
                .is_some_and(|r| r.is_match(&frame.file))
            {
                Hiding::Hide
            } else {
                match tree::origin(frame, &session.library_dirs) {
                    Origin::Application => Hiding::Show,
                    Origin::Library => Hiding::Hide,
                    Origin::Caller => Hiding::AsCaller,
                }
            }
        })
        .collect();
    let libraries = session
        .frames
        .iter()
        .map(|frame| tree::library_name(frame, &session.sys_path))
        .collect();
    Context {
        hiding,
        libraries,
        timeline: options.timeline,
        ..Context::new(&session.frames, total, min_fraction)
    }
}

/// The tree a human-facing report shows, and the total its shares are of:
/// `DISPLAY_PROCESSORS` as `options` select them. `default_threshold` is
/// the renderer's `filter_threshold` unless the options give one.
///
/// With `show_all`, nothing is removed, pruned or collapsed (`[self]` rows
/// are still split off and children sorted). `flat` needs every frame, so
/// nothing is collapsed or pruned (the flat list has its own threshold).
///
/// With `timeline` (and a session that recorded the order of its samples),
/// the tree is `timeline::build_pruned`'s: calls in the order they
/// happened, repeated calls apart, never sorted or merged, and without
/// `[self]` rows.
pub(crate) fn report_tree(
    session: &Session,
    options: &RenderOptions,
    default_threshold: f64,
) -> (Node, f64) {
    let timeline = timeline_drawable(session, options);
    let options = &RenderOptions {
        timeline,
        ..options.clone()
    };
    let threshold = if options.show_all || options.flat {
        0.0
    } else {
        options.filter_threshold.unwrap_or(default_threshold)
    };
    let (root, total) = if timeline {
        // Pruned as it is built: a timeline of many short calls has
        // millions of nodes. Pruning before the splicing below is exact:
        // splicing a timeline merges nothing, so it changes no node's time.
        let total: f64 = session.timeline.iter().map(|run| run.time).sum();
        (
            crate::timeline::build_pruned(session, threshold * total),
            total,
        )
    } else {
        // Built below, pruned as it is built.
        (Node::new(None, 0.0, Vec::new()), tree::total_time(session))
    };
    let ctx = context(session, options, total, threshold);
    let remove_importlib = !options.show_all && options.remove_importlib;
    let remove_tracebackhide = !options.show_all && options.remove_tracebackhide;
    let mut steps: Vec<Processor> = Vec::new();
    let root = if timeline {
        if !options.show_all {
            steps.push(processors::remove_runpy_root);
        }
        if remove_importlib {
            steps.push(processors::remove_importlib);
        }
        if remove_tracebackhide {
            steps.push(processors::remove_tracebackhide);
        }
        // No `[self]` rows: a call's own time is spread between its
        // children's in time, and one row could not stand in its place.
        root
    } else {
        // The same steps, in one pass over the stacks (see build_report).
        let remove = |frame: &crate::sample::FrameId| {
            (remove_importlib && processors::is_importlib_bootstrap(frame))
                || (remove_tracebackhide && processors::is_tracebackhide(frame))
        };
        let strip_leading =
            |frame: &crate::sample::FrameId| !options.show_all && processors::is_runpy(frame);
        tree::build_report(
            session,
            &strip_leading,
            &remove,
            threshold * total,
            !options.flat,
        )
    };
    if !options.show_all && !options.flat && options.group_library_frames {
        steps.push(processors::group_library_frames);
    }
    if !options.timeline {
        steps.push(processors::sort_by_time);
    }
    (processors::apply(root, &ctx, &steps), total)
}

/// Whether `options` ask for a timeline and `session` can give one.
pub(crate) fn timeline_drawable(session: &Session, options: &RenderOptions) -> bool {
    options.timeline && session.time_order_known()
}

/// What a report says when a timeline was asked for but the session does
/// not know the order of its samples.
pub(crate) fn timeline_note(session: &Session, options: &RenderOptions) -> Option<String> {
    (options.timeline && !timeline_drawable(session, options)).then(|| {
        "this profile did not record the order of its samples (JSON format version 1): \
         showing the aggregated call tree instead of a timeline"
            .to_string()
    })
}

/// Decimals a time needs to show the sampling interval: 3 for 1 ms, 4 for
/// 0.1 ms (pyinstrument's rule).
pub(crate) fn precision(interval: f64) -> usize {
    let clamped = if interval.is_finite() {
        interval.clamp(1e-9, 1.0)
    } else {
        1e-3
    };
    // The epsilon keeps 0.001 (not quite 1e-3 in binary) at 3 decimals.
    (-clamped.log10() - 1e-9).ceil().max(0.0) as usize
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

    /// Takes `room` bytes, then fails like a full disk.
    struct Full {
        room: usize,
    }

    impl io::Write for Full {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::Error::other("disk full"));
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Every renderer streams into its destination and reports the
    /// destination's error, whenever it comes, instead of losing it.
    #[test]
    fn a_failing_destination_is_an_error_for_every_format() {
        let mut session: Session = serde_json::from_str(crate::session::tests::MINIMAL).unwrap();
        session.frames = vec![crate::sample::FrameId::new("main", "demo.py", 1)];
        session.stacks = vec![crate::sample::StackRecord {
            frames: vec![0],
            time: 1.0,
            samples: 1000,
        }];
        for name in Format::names() {
            let format = Format::from_name(name).unwrap();
            let options = RenderOptions::default();
            let whole = render(&session, format, &options).len();
            assert!(whole > 20, "{name}");
            for room in [0, 10, whole - 1] {
                let result = write(&session, format, &options, &mut Full { room });
                assert!(
                    result.is_err(),
                    "{name} with room for {room} of {whole} bytes"
                );
            }
            assert!(write(&session, format, &options, &mut Full { room: whole }).is_ok());
        }
    }

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
            stack_cpu_times: Vec::new(),
            thread_cpu_time: None,
            target_description: None,
            threads: Vec::new(),
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
            let options = RenderOptions {
                show_all,
                ..Default::default()
            };
            let (root, total) = report_tree(&session, &options, 0.01);
            root.check_invariant().unwrap();
            assert!((total - 1.0).abs() < 1e-12);
            let mut path = Vec::new();
            let mut node = &root;
            // busy's own time is a `[self]` row beside tick: follow frames.
            while let Some(child) = node.children.iter().find(|c| c.frame.is_some()) {
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
    fn precision_follows_the_interval() {
        assert_eq!(precision(0.001), 3);
        assert_eq!(precision(0.0001), 4);
        assert_eq!(precision(0.0005), 4);
        assert_eq!(precision(0.01), 2);
        assert_eq!(precision(0.005), 3);
        assert_eq!(precision(1.0), 0);
        assert_eq!(precision(5.0), 0);
        assert_eq!(precision(0.0), 9);
        assert_eq!(precision(f64::NAN), 3);
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
