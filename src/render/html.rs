//! The HTML report: one self-contained page (no network) that is a profile
//! viewer: call tree, timeline and flame graph, with the options of the
//! text report changeable live. First a view model (`HtmlView`, plain
//! serialisable data, golden-tested as JSON), then the handlebars template
//! in `assets/report.hbs` with the CSS and the JavaScript embedded.
//!
//! The view model carries the *unprocessed* call tree (`calls`) and the
//! time-ordered spans (`spans`), with what each frame is (application or
//! library, which library, removed by default or not): the page applies
//! the report's processing itself (`assets/report.js`, the same steps as
//! `render::report_tree`), so that collapsing, removals, custom show/hide
//! patterns and the threshold can change without a round trip.
//! `default_tree` is what the page must show with the options it opens
//! with; the browser test holds the two equal on every golden session.

use super::{header, report_tree, share, RenderOptions, TimeFormat, TimeKind};
use crate::processors::{is_importlib_bootstrap, is_runpy, is_tracebackhide};
use crate::session::Session;
use crate::tree::{self, location, Node, Origin, Synthetic};
use handlebars::{
    Context as HbContext, Handlebars, Helper, HelperDef, HelperResult, Output, RenderContext,
};
use serde::Serialize;
use std::collections::HashMap;

/// Children under this share of the total are dropped (unless `show_all`
/// or another `filter_threshold`).
pub const MIN_FRACTION: f64 = 0.005;
/// A node whose children (`[self]` rows aside) are all under this share of
/// the total starts collapsed.
pub const COLLAPSE_FRACTION: f64 = 0.1;
/// Calls under this share of the total are not in the page at all (their
/// time stays their caller's own), unless `show_all`: the live threshold
/// can go down to it. A profile of 100k distinct stacks has a tree of
/// 565k calls; these floors keep its page a few megabytes.
pub const CALLS_FLOOR: f64 = 0.0005;
/// The same for the timeline's spans (a call in time order), always.
pub const SPANS_FLOOR: f64 = 0.0001;

const TEMPLATE: &str = include_str!("assets/report.hbs");
const CSS: &str = include_str!("assets/report.css");
const JS: &str = include_str!("assets/report.js");

/// Everything the page shows, before any markup.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HtmlView {
    pub title: String,
    pub program: String,
    /// The session's target description, shown instead of `Program:
    /// <program>` (absent from the view model's JSON when there is none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub summary: String,
    pub python_version: String,
    /// Wall-clock and CPU seconds of the profile (the page shows the CPU
    /// utilisation).
    pub duration: f64,
    pub cpu_time: f64,
    /// Seconds since the epoch the profile started at (the page shows it
    /// in the reader's time zone).
    pub start_time: f64,
    pub notes: Vec<String>,
    /// Seconds that percentages are shares of.
    pub total: f64,
    /// The profiled thread's CPU seconds in the tree, when the session
    /// recorded CPU time per stack and the tree is not in time order: the
    /// page can then weigh the tree by CPU time instead (`calls.self_cpu`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_total: Option<f64>,
    /// The note the page shows while the tree is weighed by CPU time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_note: Option<String>,
    /// Decimals a time is shown with (follows the sampling interval).
    pub decimals: usize,
    /// Shown instead of the views ("No samples were recorded.").
    pub empty_message: Option<String>,
    /// What the options panel starts with (before the reader's own choices,
    /// kept in the browser, override them).
    pub options: ViewOptions,
    /// The frames the tree uses; calls and spans refer to them by index.
    pub frames: Vec<ViewFrame>,
    /// The call tree, unprocessed (but for `CALLS_FLOOR`).
    pub calls: FlatTree,
    /// The calls in the order they happened, for the timeline; `None` when
    /// the session did not record the order.
    pub spans: Option<Spans>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ViewOptions {
    pub group_library: bool,
    pub remove_importlib: bool,
    pub remove_tracebackhide: bool,
    /// `--show-all`: nothing removed, collapsed or pruned.
    pub show_all: bool,
    /// A share of the total.
    pub threshold: f64,
    /// "seconds" or "percent".
    pub time: &'static str,
    /// `-t`: the call tree in time order (never merged or sorted).
    pub ordered: bool,
    /// "wall" or "cpu" (`--cpu`, `-p time_kind=cpu`): which clock weighs
    /// the tree and the flame graph; "cpu" only with a `cpu_total`.
    pub time_kind: &'static str,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ViewFrame {
    pub function: String,
    /// The function's first line (orders calls of equal time, as the text
    /// report does: function, file, line).
    pub line: u32,
    /// Short `file:line` as in the text report.
    pub location: String,
    /// The full file path (a tooltip, and what show/hide patterns match).
    pub file: String,
    /// "application", "library" or "caller" (`<string>`: like its caller),
    /// with the command line's `--show`/`--hide` applied.
    pub origin: &'static str,
    /// The package or module a `[N frames hidden]` row names it by.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub library: Option<String>,
    /// "importlib", "tracebackhide" or "runpy": removed by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removal: Option<&'static str>,
}

/// A tree in preorder as parallel arrays (a big profile's page is mostly
/// this, so no per-node objects): node `i` is a call of frame `frame[i]` at
/// depth `depth[i]` (1 for the outermost calls), with `self_time[i]`
/// seconds of its own (the samples that ended in it) and `pruned[i]`
/// seconds of calls under the floor it made, rounded to the microsecond.
/// Kept apart because a `[self]` row shows only the first.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FlatTree {
    pub frame: Vec<u32>,
    pub depth: Vec<u32>,
    pub self_time: Vec<f64>,
    pub pruned: Vec<f64>,
    /// The same as `self_time` and `pruned` in CPU seconds, when the view
    /// has a `cpu_total` (else empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub self_cpu: Vec<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pruned_cpu: Vec<f64>,
}

/// Calls in time order, in preorder (by start, callers first): span `i` is
/// frame `frame[i]` at `depth[i]` (1 outermost) from `start[i]` seconds
/// after the first sample, for `duration[i]` seconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Spans {
    pub frame: Vec<u32>,
    pub depth: Vec<u32>,
    pub start: Vec<f64>,
    pub duration: Vec<f64>,
}

/// A node of the tree the page shows with its initial options (see
/// `default_tree`): a frame, a `[self]` row or a `[N frames hidden]` row.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ViewNode {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frame: Option<u32>,
    #[serde(rename = "self", skip_serializing_if = "is_false")]
    pub self_row: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hidden: Option<ViewHidden>,
    pub time: f64,
    #[serde(skip_serializing_if = "is_false")]
    pub collapsed: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<ViewNode>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ViewHidden {
    pub frames: usize,
    pub libraries: Vec<String>,
}

/// Seconds rounded to the microsecond.
fn micros(seconds: f64) -> f64 {
    (seconds * 1e6).round() / 1e6
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn threshold(options: &RenderOptions) -> f64 {
    if options.show_all {
        0.0
    } else {
        options.filter_threshold.unwrap_or(MIN_FRACTION)
    }
}

/// Builds the view model (see the module comment).
pub fn view_model(session: &Session, options: &RenderOptions) -> HtmlView {
    view_model_and_index(session, options).0
}

/// The view model, and which view frame each session frame it uses became.
fn view_model_and_index(
    session: &Session,
    options: &RenderOptions,
) -> (HtmlView, HashMap<u32, u32>) {
    let h = header(session);
    let ordered = super::timeline_drawable(session, options);
    let mut notes = h.notes;
    notes.extend(super::timeline_note(session, options));
    let total = tree::total_time(session);
    let floor = if options.show_all {
        0.0
    } else {
        CALLS_FLOOR.min(threshold(options))
    };
    let mut builder = Builder {
        session,
        options,
        frames: Vec::new(),
        index: HashMap::new(),
    };
    let mut calls = FlatTree::default();
    // In time order there is no CPU time per call: the recorder's log is
    // of wall time (and `timeline` with `time_kind=cpu` is refused).
    let with_cpu = session.cpu_known() && !ordered;
    let cpu_total: f64 = if with_cpu {
        session.stack_cpu_times.iter().sum()
    } else {
        0.0
    };
    if ordered {
        // In time order a call's own time and its small calls' are not
        // told apart (`timeline::build_pruned` sums them).
        let raw = crate::timeline::build_pruned(session, floor * total);
        for child in &raw.children {
            builder.flatten(child, 1, &mut calls);
        }
    } else {
        let nframes = session.frames.len();
        let mut stacks: Vec<StackTimes> = session
            .stacks
            .iter()
            .enumerate()
            .filter(|(_, s)| s.frames.iter().all(|&f| (f as usize) < nframes))
            .map(|(i, s)| StackTimes {
                frames: s.frames.as_slice(),
                wall: s.time,
                cpu: if with_cpu {
                    session.stack_cpu_times[i]
                } else {
                    0.0
                },
            })
            .collect();
        stacks.sort_by(|a, b| a.frames.cmp(b.frames));
        let floors = Times {
            wall: floor * total,
            cpu: floor * cpu_total,
        };
        builder.calls(&stacks, 0, floors, with_cpu, &mut calls);
    }
    // Even with `show_all`: a span of a ten-thousandth of the profile is
    // under a pixel until the view is zoomed in 10x, and a million spans
    // would weigh tens of megabytes.
    let spans = session
        .time_order_known()
        .then(|| builder.spans(SPANS_FLOOR * total));
    let empty_message = if session.stacks.is_empty() || total <= 0.0 {
        Some("No samples were recorded.".to_string())
    } else {
        None
    };
    let cpu_total = with_cpu.then(|| micros(cpu_total));
    let cpu_note = with_cpu.then(|| session.cpu_weight_note());
    let view = HtmlView {
        title: format!(
            "pyinstrument: {}",
            h.description.as_deref().unwrap_or(&h.program)
        ),
        program: h.program,
        description: h.description,
        summary: h.summary,
        python_version: session.python_version.clone(),
        duration: micros(session.duration),
        cpu_time: micros(session.cpu_time),
        start_time: session.start_time,
        notes,
        total: micros(total),
        cpu_total,
        cpu_note,
        decimals: super::precision(session.interval),
        empty_message,
        options: ViewOptions {
            group_library: options.group_library_frames,
            remove_importlib: options.remove_importlib,
            remove_tracebackhide: options.remove_tracebackhide,
            show_all: options.show_all,
            threshold: threshold(options),
            time: match options.time {
                TimeFormat::Seconds => "seconds",
                TimeFormat::PercentOfTotal => "percent",
            },
            ordered,
            time_kind: match options.time_kind {
                TimeKind::Cpu if with_cpu => "cpu",
                _ => "wall",
            },
        },
        frames: builder.frames,
        calls,
        spans,
    };
    (view, builder.index)
}

/// A stack of the session with both of its times.
struct StackTimes<'a> {
    frames: &'a [u32],
    wall: f64,
    cpu: f64,
}

/// Wall-clock and CPU seconds.
#[derive(Clone, Copy, Default)]
struct Times {
    wall: f64,
    cpu: f64,
}

impl Times {
    fn add(&mut self, wall: f64, cpu: f64) {
        self.wall += wall;
        self.cpu += cpu;
    }
}

struct Builder<'a> {
    session: &'a Session,
    options: &'a RenderOptions,
    frames: Vec<ViewFrame>,
    /// Session frame index -> view frame index.
    index: HashMap<u32, u32>,
}

impl<'a> Builder<'a> {
    fn flatten(&mut self, node: &Node, depth: u32, out: &mut FlatTree) {
        let Some(frame) = node.frame else { return };
        out.frame.push(self.frame(frame));
        out.depth.push(depth);
        out.self_time.push(micros(node.self_time));
        out.pruned.push(0.0);
        for child in &node.children {
            self.flatten(child, depth + 1, out);
        }
    }

    /// The calls below the node that `stacks` (sorted, all sharing their
    /// first `depth` frames) pass through, as `tree::build_pruned` builds
    /// them; returns the time of the stacks ending at that node, and that
    /// of its children left out: those under the floor on both clocks (a
    /// call kept for either can be shown weighed by either).
    fn calls(
        &mut self,
        stacks: &[StackTimes],
        depth: usize,
        floors: Times,
        with_cpu: bool,
        out: &mut FlatTree,
    ) -> (Times, Times) {
        let (mut own, mut pruned) = (Times::default(), Times::default());
        let mut i = 0;
        while i < stacks.len() {
            let stack = &stacks[i];
            if stack.frames.len() == depth {
                own.add(stack.wall, stack.cpu);
                i += 1;
                continue;
            }
            let frame = stack.frames[depth];
            let start = i;
            let mut child = Times::default();
            while i < stacks.len()
                && stacks[i].frames.len() > depth
                && stacks[i].frames[depth] == frame
            {
                child.add(stacks[i].wall, stacks[i].cpu);
                i += 1;
            }
            if child.wall < floors.wall && (!with_cpu || child.cpu < floors.cpu) {
                pruned.add(child.wall, child.cpu);
                continue;
            }
            let at = out.frame.len();
            out.frame.push(self.frame(frame));
            out.depth.push(depth as u32 + 1);
            out.self_time.push(0.0);
            out.pruned.push(0.0);
            if with_cpu {
                out.self_cpu.push(0.0);
                out.pruned_cpu.push(0.0);
            }
            let (child_own, child_pruned) =
                self.calls(&stacks[start..i], depth + 1, floors, with_cpu, out);
            out.self_time[at] = micros(child_own.wall);
            out.pruned[at] = micros(child_pruned.wall);
            if with_cpu {
                out.self_cpu[at] = micros(child_own.cpu);
                out.pruned_cpu[at] = micros(child_pruned.cpu);
            }
        }
        (own, pruned)
    }

    /// The spans of the session's timeline: consecutive samples share the
    /// calls of their common prefix (as in `timeline::build`); a call
    /// shorter than `min_time` is left out.
    fn spans(&mut self, min_time: f64) -> Spans {
        let session = self.session;
        let nframes = session.frames.len();
        // (session frame, start) of the calls still running, outermost first.
        let mut open: Vec<(u32, f64)> = Vec::new();
        let mut done: Vec<(f64, u32, u32, f64)> = Vec::new();
        let mut now = 0.0;
        let close = |open: &mut Vec<(u32, f64)>, keep: usize, now: f64, done: &mut Vec<_>| {
            while open.len() > keep {
                let (frame, start) = open.pop().expect("more than keep");
                if now - start >= min_time && now > start {
                    done.push((start, open.len() as u32 + 1, frame, now - start));
                }
            }
        };
        for run in &session.timeline {
            let Some(stack) = session.stacks.get(run.stack as usize) else {
                continue;
            };
            if stack.frames.iter().any(|&f| f as usize >= nframes) {
                continue;
            }
            let shared = open
                .iter()
                .zip(&stack.frames)
                .take_while(|(a, b)| a.0 == **b)
                .count();
            close(&mut open, shared, now, &mut done);
            open.extend(stack.frames[shared..].iter().map(|&f| (f, now)));
            now += run.time;
        }
        close(&mut open, 0, now, &mut done);
        done.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut spans = Spans::default();
        for (start, depth, frame, duration) in done {
            spans.frame.push(self.frame(frame));
            spans.depth.push(depth);
            spans.start.push(micros(start));
            spans.duration.push(micros(duration));
        }
        spans
    }

    fn frame(&mut self, session_index: u32) -> u32 {
        if let Some(&i) = self.index.get(&session_index) {
            return i;
        }
        let f = &self.session.frames[session_index as usize];
        let i = self.frames.len() as u32;
        let origin = if self
            .options
            .show
            .as_ref()
            .is_some_and(|r| r.is_match(&f.file))
        {
            "application"
        } else if self
            .options
            .hide
            .as_ref()
            .is_some_and(|r| r.is_match(&f.file))
        {
            "library"
        } else {
            match tree::origin(f, &self.session.library_dirs) {
                Origin::Application => "application",
                Origin::Library => "library",
                Origin::Caller => "caller",
            }
        };
        let removal = if is_importlib_bootstrap(f) {
            Some("importlib")
        } else if is_tracebackhide(f) {
            Some("tracebackhide")
        } else if is_runpy(f) {
            Some("runpy")
        } else {
            None
        };
        self.frames.push(ViewFrame {
            function: f.function.clone(),
            line: f.line,
            location: location(f, &self.session.sys_path),
            file: f.file.clone(),
            origin,
            library: tree::library_name(f, &self.session.sys_path),
            removal,
        });
        self.index.insert(session_index, i);
        i
    }
}

/// The tree the page shows when it opens with `options` (`report_tree`'s,
/// at the HTML threshold), frames indexed like `view.frames`, with which
/// nodes start collapsed. The page computes it from `view.calls`; this is
/// what tests compare it with.
pub fn default_tree(session: &Session, options: &RenderOptions) -> Vec<ViewNode> {
    let (view, index) = view_model_and_index(session, options);
    let options = RenderOptions {
        flat: false,
        ..options.clone()
    };
    // The page weighs the tree by CPU time itself (see `HtmlView::cpu_total`).
    let weighted = (view.options.time_kind == "cpu")
        .then(|| session.weighted_by_cpu())
        .flatten();
    let session = weighted.as_ref().unwrap_or(session);
    let (root, total) = report_tree(session, &options, MIN_FRACTION);
    // The page knows the total rounded, as every other time.
    let total = micros(total);
    let map = |f: u32| index.get(&f).copied().unwrap_or(u32::MAX);
    fn node(n: &Node, total: f64, map: &dyn Fn(u32) -> u32) -> ViewNode {
        let children: Vec<ViewNode> = n.children.iter().map(|c| node(c, total, map)).collect();
        let collapsed = !children.is_empty()
            && children
                .iter()
                .filter(|c| !c.self_row)
                .all(|c| share(c.time, total) < COLLAPSE_FRACTION);
        ViewNode {
            frame: n.frame.map(map),
            self_row: n.is_self_row(),
            hidden: match &n.synthetic {
                Some(Synthetic::Hidden { frames, libraries }) => Some(ViewHidden {
                    frames: *frames,
                    libraries: libraries.clone(),
                }),
                _ => None,
            },
            time: micros(n.time),
            collapsed,
            children,
        }
    }
    let tops: Vec<&Node> = if root.frame.is_none() {
        root.children.iter().collect()
    } else {
        vec![&root]
    };
    tops.into_iter().map(|n| node(n, total, &map)).collect()
}

/// What the template itself fills in: the header, not the tree (handlebars
/// would copy the whole tree into its own value type for nothing).
#[derive(Serialize)]
struct Page<'a> {
    title: &'a str,
    program: &'a str,
    description: Option<&'a str>,
    summary: &'a str,
    notes: &'a [String],
    empty_message: Option<&'a str>,
    css: &'static str,
    js: &'static str,
}

/// The `{{profile_data}}` helper: writes the (already script-escaped) view
/// model JSON straight to the output. Passing megabytes of JSON as a
/// template value instead would copy it into handlebars' own value tree.
struct RawText<'a>(&'a str);

impl HelperDef for RawText<'_> {
    fn call<'reg: 'rc, 'rc>(
        &self,
        _: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc HbContext,
        _: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        out.write(self.0)?;
        Ok(())
    }
}

pub fn write(
    session: &Session,
    options: &RenderOptions,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    write_view(&view_model(session, options), out)
}

/// Fills the template with a view model, writing the page to `out`.
pub fn write_view(view: &HtmlView, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let json = serde_json::to_string(view).expect("the view model serialises");
    let data = script_safe_json(&json);
    drop(json);
    let page = Page {
        title: &view.title,
        program: &view.program,
        description: view.description.as_deref(),
        summary: &view.summary,
        notes: &view.notes,
        empty_message: view.empty_message.as_deref(),
        css: CSS,
        js: JS,
    };
    let mut hb = Handlebars::new();
    // Everything inserted with {{...}} is HTML-escaped (handlebars' default,
    // covering text and quoted attributes); only the assets use {{{...}}},
    // and the JSON goes through `profile_data`, escaped by script_safe_json.
    hb.register_helper("profile_data", Box::new(RawText(&data)));
    hb.register_template_string("report", TEMPLATE)
        .expect("the report template parses");
    hb.render_to_write("report", &page, out)
        .map_err(|error| match error.reason() {
            handlebars::RenderErrorReason::IOError(..) => std::io::Error::other(format!("{error}")),
            _ => panic!("the report template renders: {error}"),
        })
}

/// Makes JSON safe inside a `<script>` element: `<`, `>` and `&` become
/// `\u003c`, `\u003e`, `\u0026` (so `</script>` or `<!--` in a name cannot
/// end or alter the element), and U+2028/U+2029 are escaped too. These
/// characters can only occur inside JSON strings, where the escapes mean
/// the same characters.
pub fn script_safe_json(json: &str) -> String {
    let bytes = json.as_bytes();
    let mut out = String::with_capacity(json.len() + json.len() / 64);
    let mut last = 0;
    for (i, &b) in bytes.iter().enumerate() {
        // U+2028 and U+2029 are E2 80 A8 and E2 80 A9 in UTF-8.
        let (replacement, len) = match b {
            b'<' => ("\\u003c", 1),
            b'>' => ("\\u003e", 1),
            b'&' => ("\\u0026", 1),
            0xE2 if bytes[i + 1..].starts_with(&[0x80, 0xA8]) => ("\\u2028", 3),
            0xE2 if bytes[i + 1..].starts_with(&[0x80, 0xA9]) => ("\\u2029", 3),
            _ => continue,
        };
        out.push_str(&json[last..i]);
        out.push_str(replacement);
        last = i + len;
    }
    out.push_str(&json[last..]);
    out
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

    fn session() -> Session {
        let mut s: Session = serde_json::from_str(crate::session::tests::MINIMAL).unwrap();
        s.command_line = vec!["<b>&\"x\".py".into()];
        s.sys_path = vec!["/app".into(), "/lib".into()];
        s.library_dirs = vec!["/lib".into()];
        s.frames = vec![
            FrameId::new("main", "/app/m.py", 1),
            FrameId::new(
                "</script><script>document.title='x'</script>",
                "/app/a&\"<>.py",
                2,
            ),
            FrameId::new("lib_fn", "/lib/l.py", 3),
            FrameId::new("tiny", "/lib/l.py", 9),
        ];
        s.stacks = vec![
            StackRecord {
                frames: vec![0, 1],
                time: 0.5,
                samples: 1,
            },
            StackRecord {
                frames: vec![0, 2, 3],
                time: 0.05,
                samples: 1,
            },
            StackRecord {
                frames: vec![0, 2],
                time: 0.45,
                samples: 1,
            },
            StackRecord {
                frames: vec![0, 3],
                time: 0.004,
                samples: 1,
            },
        ];
        s
    }

    #[test]
    fn view_model_has_the_raw_tree_and_what_each_frame_is() {
        let v = view_model(&session(), &RenderOptions::default());
        let names: Vec<&str> = v
            .calls
            .frame
            .iter()
            .map(|&f| v.frames[f as usize].function.as_str())
            .collect();
        // Preorder, unprocessed: main, its children by frame index.
        assert_eq!(
            names,
            [
                "main",
                "</script><script>document.title='x'</script>",
                "lib_fn",
                "tiny",
                "tiny"
            ]
        );
        assert_eq!(v.calls.depth, [1, 2, 2, 3, 2]);
        assert_eq!(v.calls.self_time, [0.0, 0.5, 0.45, 0.05, 0.004]);
        assert_eq!(v.calls.pruned, [0.0; 5]);
        // Under a floor, a call is left out and its time is its caller's.
        let mut small = session();
        small.stacks[3].time = 0.0001;
        let floored = view_model(&small, &RenderOptions::default());
        assert_eq!(floored.calls.depth, [1, 2, 2, 3]);
        assert_eq!(floored.calls.pruned, [0.0001, 0.0, 0.0, 0.0]);
        assert_eq!(v.frames[0].origin, "application");
        assert_eq!(v.frames[2].origin, "library");
        assert_eq!(v.frames[2].library.as_deref(), Some("l"));
        assert_eq!(v.options.threshold, MIN_FRACTION);
        assert_eq!(v.options.time, "seconds");
        // No time order recorded in this session: no spans.
        assert_eq!(v.spans, None);
        // `--hide` makes application code library code, `--show` the reverse.
        let hidden = view_model(
            &session(),
            &RenderOptions {
                hide: Some(crate::render::options::glob_regex("/app/m.py").unwrap()),
                show: Some(crate::render::options::glob_regex("/lib/*").unwrap()),
                ..Default::default()
            },
        );
        assert_eq!(hidden.frames[0].origin, "library");
        assert_eq!(hidden.frames[2].origin, "application");
    }

    #[test]
    fn spans_follow_the_time_order() {
        use crate::sample::TimelineRun;
        let mut s = session();
        // main>a, main>lib_fn, main>lib_fn>tiny, main>a
        s.timeline = vec![
            TimelineRun::from((0, 2, 0.2)),
            TimelineRun::from((2, 1, 0.1)),
            TimelineRun::from((1, 1, 0.05)),
            TimelineRun::from((0, 3, 0.3)),
        ];
        let v = view_model(&s, &RenderOptions::default());
        let spans = v.spans.expect("spans");
        let names: Vec<&str> = spans
            .frame
            .iter()
            .map(|&f| v.frames[f as usize].function.as_str())
            .collect();
        assert_eq!(names[0], "main");
        assert_eq!(names[2], "lib_fn");
        assert_eq!(names[3], "tiny");
        assert_eq!(spans.depth, [1, 2, 2, 3, 2]);
        assert_eq!(spans.start, [0.0, 0.0, 0.2, 0.3, 0.35]);
        assert_eq!(spans.duration, [0.65, 0.2, 0.15, 0.05, 0.3]);
    }

    #[test]
    fn default_tree_drops_small_children_and_collapses() {
        let s = session();
        let v = view_model(&s, &RenderOptions::default());
        let roots = default_tree(&s, &RenderOptions::default());
        assert_eq!(roots.len(), 1);
        let main = &roots[0];
        let frame = |n: &ViewNode| &v.frames[n.frame.unwrap() as usize];
        assert_eq!(frame(main).function, "main");
        assert_eq!(frame(main).origin, "application");
        assert!(!main.collapsed);
        // "tiny" under main (0.4%) is dropped.
        assert_eq!(main.children.len(), 2);
        assert_eq!(frame(&main.children[0]).location, "a&\"<>.py:2");
        // lib_fn's own time is a `[self]` row beside its 5% child; that
        // child alone decides that it starts collapsed.
        let lib = &main.children[1];
        assert_eq!(frame(lib).function, "lib_fn");
        assert_eq!(frame(lib).origin, "library");
        assert!(lib.collapsed);
        assert!(lib.children[0].self_row && lib.children[0].frame.is_none());
        assert_eq!(lib.children[0].time, 0.45);
        // Every child under 10%: starts collapsed.
        let mut small = session();
        small.stacks[2].frames = vec![0, 1];
        let v = view_model(&small, &RenderOptions::default());
        let roots = default_tree(&small, &RenderOptions::default());
        let lib = &roots[0].children[1];
        assert_eq!(v.frames[lib.frame.unwrap() as usize].function, "lib_fn");
        assert_eq!(lib.children.len(), 1);
        assert!(lib.collapsed);
        let all = default_tree(
            &session(),
            &RenderOptions {
                show_all: true,
                ..Default::default()
            },
        );
        assert_eq!(all[0].children.len(), 3);
    }

    #[test]
    fn view_model_has_the_hidden_rows() {
        let mut s = session();
        s.frames.push(FrameId::new("lib_inner", "/lib/l.py", 20));
        s.frames.push(FrameId::new("callback", "/app/m.py", 30));
        // main -> lib_fn -> tiny -> lib_inner -> callback
        s.stacks.push(StackRecord {
            frames: vec![0, 2, 3, 4, 5],
            time: 0.3,
            samples: 1,
        });
        let v = view_model(&s, &RenderOptions::default());
        let roots = default_tree(&s, &RenderOptions::default());
        let lib = roots[0]
            .children
            .iter()
            .find(|c| {
                c.frame
                    .is_some_and(|f| v.frames[f as usize].function == "lib_fn")
            })
            .expect("lib_fn");
        let group = lib
            .children
            .iter()
            .find(|c| c.hidden.is_some())
            .expect("a hidden row");
        assert_eq!(
            group.hidden,
            Some(ViewHidden {
                frames: 2,
                libraries: vec!["l".to_string()]
            })
        );
        assert_eq!(group.frame, None);
        let callback = &group.children[0];
        assert_eq!(
            v.frames[callback.frame.unwrap() as usize].function,
            "callback"
        );
        assert_eq!(
            v.frames[callback.frame.unwrap() as usize].origin,
            "application"
        );
        let json = serde_json::to_string(&group).unwrap();
        assert!(
            json.starts_with("{\"hidden\":{\"frames\":2,\"libraries\":[\"l\"]}"),
            "{json}"
        );
    }

    #[test]
    fn page_escapes_names_everywhere() {
        let html = render(&session(), &RenderOptions::default());
        assert!(!html.contains("</script><script>document"));
        assert!(html.contains(
            "\\u003c/script\\u003e\\u003cscript\\u003edocument.title='x'\\u003c/script\\u003e"
        ));
        assert!(
            html.contains(
                "<title>pyinstrument: &#x27;&lt;b&gt;&amp;&quot;x&quot;.py&#x27;</title>"
            ),
            "{}",
            &html[..400]
        );
        assert!(!html.contains("<b>"));
        // Exactly the page's own two script elements.
        assert_eq!(html.matches("<script").count(), 2);
        assert_eq!(html.matches("</script>").count(), 2);
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "no network references"
        );
    }

    #[test]
    fn script_safe_json_escapes() {
        assert_eq!(
            script_safe_json("\"<&>\u{2028}\u{2029}\""),
            "\"\\u003c\\u0026\\u003e\\u2028\\u2029\""
        );
        let v: String = serde_json::from_str(&script_safe_json("\"</script>\"")).unwrap();
        assert_eq!(v, "</script>");
    }

    #[test]
    fn empty_session_has_a_message() {
        let mut s = session();
        s.stacks.clear();
        let v = view_model(&s, &RenderOptions::default());
        assert_eq!(
            v.empty_message.as_deref(),
            Some("No samples were recorded.")
        );
        assert!(render(&s, &RenderOptions::default()).contains("No samples were recorded."));
    }

    #[test]
    fn a_target_description_replaces_the_program_line() {
        let mut s = session();
        let plain = render(&s, &RenderOptions::default());
        assert!(
            plain.contains(">Program: <span class=\"value\">"),
            "{plain}"
        );
        s.target_description = Some("nightly <import> job".to_string());
        let v = view_model(&s, &RenderOptions::default());
        assert_eq!(v.title, "pyinstrument: nightly <import> job");
        let html = render(&s, &RenderOptions::default());
        assert!(
            html.contains("<span class=\"value\">nightly &lt;import&gt; job</span>"),
            "{html}"
        );
        assert!(!html.contains(">Program: <span"), "{html}");
    }
}
