//! The HTML report: one self-contained page (no network). First a view
//! model (`HtmlView`, plain serialisable data, golden-tested as JSON), then
//! the handlebars template in `assets/report.hbs` with the CSS and the
//! JavaScript embedded. The page's script draws the call tree from the view
//! model embedded as JSON, building a node's children only when it is first
//! expanded, so a profile with 100k distinct stacks still opens quickly.

use super::{header, report_tree, share, RenderOptions};
use crate::session::Session;
use crate::tree::{is_application, location, Node, Synthetic};
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

const TEMPLATE: &str = include_str!("assets/report.hbs");
const CSS: &str = include_str!("assets/report.css");
const JS: &str = include_str!("assets/report.js");

/// Everything the page shows, before any markup.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HtmlView {
    pub title: String,
    pub program: String,
    pub summary: String,
    pub notes: Vec<String>,
    /// Seconds that percentages are shares of.
    pub total: f64,
    /// Shown instead of a tree ("No samples were recorded.").
    pub empty_message: Option<String>,
    /// The frames the tree uses; nodes refer to them by index.
    pub frames: Vec<ViewFrame>,
    /// The top of the tree (several when the profile has several outermost
    /// frames and nothing in common).
    pub roots: Vec<ViewNode>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ViewFrame {
    pub function: String,
    /// Short `file:line` as in the text report.
    pub location: String,
    /// The full file path (a tooltip).
    pub file: String,
    /// The application's own code, highlighted.
    pub application: bool,
}

/// A node of the displayed tree: a frame, a `[self]` row or a
/// `[N frames hidden]` row. `collapsed`, `children` and the row kinds are
/// left out of the JSON when false/empty: a big profile is mostly leaves,
/// and the page has to parse all of it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ViewNode {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frame: Option<u32>,
    /// A `[self]` row: the parent frame's own time.
    #[serde(rename = "self", skip_serializing_if = "is_false")]
    pub self_row: bool,
    /// A `[N frames hidden]` row: library frames collapsed into one; its
    /// children are the application code they called back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hidden: Option<ViewHidden>,
    /// Seconds, rounded to the microsecond (sums of floats otherwise print
    /// as `0.020000000000000004`, and the page shows 3 decimals anyway).
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

/// Builds the view model: the tree text reports show (see `report_tree`:
/// library code collapsed, `[self]` rows), with children under 0.5% dropped
/// unless `show_all` or another `filter_threshold`.
pub fn view_model(session: &Session, options: &RenderOptions) -> HtmlView {
    let h = header(session);
    let options = RenderOptions {
        // A flat list is the text report's; the page always shows a tree.
        flat: false,
        ..options.clone()
    };
    let (root, total) = report_tree(session, &options, MIN_FRACTION);
    let mut notes = h.notes;
    notes.extend(super::timeline_note(session, &options));
    let mut builder = Builder {
        session,
        total,
        frames: Vec::new(),
        index: HashMap::new(),
    };
    let tops: Vec<&Node> = if root.frame.is_none() {
        root.children.iter().collect()
    } else {
        vec![&root]
    };
    let roots: Vec<ViewNode> = tops.into_iter().map(|n| builder.node(n)).collect();
    let empty_message = if session.stacks.is_empty() || total <= 0.0 {
        Some("No samples were recorded.".to_string())
    } else if roots.is_empty() {
        Some("Every call took under 0.5% of the total time.".to_string())
    } else {
        None
    };
    HtmlView {
        title: format!("pyinstrument: {}", h.program),
        program: h.program,
        summary: h.summary,
        notes,
        total: micros(total),
        empty_message,
        frames: builder.frames,
        roots,
    }
}

struct Builder<'a> {
    session: &'a Session,
    total: f64,
    frames: Vec<ViewFrame>,
    /// Session frame index -> view frame index.
    index: HashMap<u32, u32>,
}

impl<'a> Builder<'a> {
    fn node(&mut self, node: &Node) -> ViewNode {
        let frame = node.frame.map(|f| self.frame(f));
        let hidden = match &node.synthetic {
            Some(Synthetic::Hidden { frames, libraries }) => Some(ViewHidden {
                frames: *frames,
                libraries: libraries.clone(),
            }),
            _ => None,
        };
        let children: Vec<ViewNode> = node.children.iter().map(|c| self.node(c)).collect();
        // A `[self]` row only repeats that the time is the node's own: it
        // is no reason to open the node.
        let collapsed = !children.is_empty()
            && children
                .iter()
                .filter(|c| !c.self_row)
                .all(|c| share(c.time, self.total) < COLLAPSE_FRACTION);
        ViewNode {
            frame,
            self_row: node.is_self_row(),
            hidden,
            time: micros(node.time),
            collapsed,
            children,
        }
    }

    fn frame(&mut self, session_index: u32) -> u32 {
        if let Some(&i) = self.index.get(&session_index) {
            return i;
        }
        let f = &self.session.frames[session_index as usize];
        let i = self.frames.len() as u32;
        self.frames.push(ViewFrame {
            function: f.function.clone(),
            location: location(f, &self.session.sys_path),
            file: f.file.clone(),
            application: is_application(f, &self.session.library_dirs),
        });
        self.index.insert(session_index, i);
        i
    }
}

/// What the template itself fills in: the header, not the tree (handlebars
/// would copy the whole tree into its own value type for nothing).
#[derive(Serialize)]
struct Page<'a> {
    title: &'a str,
    program: &'a str,
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

pub fn render(session: &Session, options: &RenderOptions) -> String {
    render_view(&view_model(session, options))
}

/// Fills the template with a view model.
pub fn render_view(view: &HtmlView) -> String {
    let json = serde_json::to_string(view).expect("the view model serialises");
    let data = script_safe_json(&json);
    drop(json);
    let page = Page {
        title: &view.title,
        program: &view.program,
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
    hb.render("report", &page)
        .expect("the report template renders")
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
    fn view_model_drops_small_children_and_collapses() {
        let v = view_model(&session(), &RenderOptions::default());
        assert_eq!(v.roots.len(), 1);
        let main = &v.roots[0];
        let frame = |n: &ViewNode| &v.frames[n.frame.unwrap() as usize];
        assert_eq!(frame(main).function, "main");
        assert!(frame(main).application);
        assert!(!main.collapsed);
        // "tiny" under main (0.4%) is dropped.
        assert_eq!(main.children.len(), 2);
        assert_eq!(frame(&main.children[0]).location, "a&\"<>.py:2");
        // lib_fn's own time is a `[self]` row beside its 5% child; that
        // child alone decides that it starts collapsed.
        let lib = &main.children[1];
        assert_eq!(frame(lib).function, "lib_fn");
        assert!(!frame(lib).application);
        assert!(lib.collapsed);
        assert!(lib.children[0].self_row && lib.children[0].frame.is_none());
        assert_eq!(lib.children[0].time, 0.45);
        // Every child under 10%: starts collapsed.
        let mut small = session();
        small.stacks[2].frames = vec![0, 1];
        let v = view_model(&small, &RenderOptions::default());
        let lib = &v.roots[0].children[1];
        assert_eq!(v.frames[lib.frame.unwrap() as usize].function, "lib_fn");
        assert_eq!(lib.children.len(), 1);
        assert!(lib.collapsed);
        let all = view_model(
            &session(),
            &RenderOptions {
                show_all: true,
                ..Default::default()
            },
        );
        assert_eq!(all.roots[0].children.len(), 3);
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
        let lib = v.roots[0]
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
        assert!(v.frames[callback.frame.unwrap() as usize].application);
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
}
