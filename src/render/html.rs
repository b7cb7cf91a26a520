//! The HTML report: one self-contained page (no network). First a view
//! model (`HtmlView`, plain serialisable data, golden-tested as JSON), then
//! the handlebars template in `assets/report.hbs` with the CSS and the
//! JavaScript embedded. The page's script draws the call tree from the view
//! model embedded as JSON, building a node's children only when it is first
//! expanded, so a profile with 100k distinct stacks still opens quickly.

use super::{display_tree, header, share, RenderOptions};
use crate::session::Session;
use crate::tree::{is_application, location, Node};
use handlebars::Handlebars;
use serde::Serialize;
use std::collections::HashMap;

/// Children under this share of the total are dropped (unless `show_all`).
pub const MIN_FRACTION: f64 = 0.005;
/// A node whose children are all under this share of the total starts
/// collapsed.
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

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ViewNode {
    pub frame: u32,
    pub time: f64,
    pub collapsed: bool,
    pub children: Vec<ViewNode>,
}

/// Builds the view model: the displayed tree (see `display_tree`) with
/// children under 0.5% dropped unless `show_all`.
pub fn view_model(session: &Session, options: &RenderOptions) -> HtmlView {
    let h = header(session);
    let (root, total) = display_tree(session, MIN_FRACTION, options.show_all);
    let mut builder = Builder { session, total, frames: Vec::new(), index: HashMap::new() };
    let tops: Vec<&Node> = if root.frame.is_none() { root.children.iter().collect() } else { vec![&root] };
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
        notes: h.notes,
        total,
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
        let frame = self.frame(node.frame.expect("only the synthetic root has no frame"));
        let children: Vec<ViewNode> = node.children.iter().map(|c| self.node(c)).collect();
        let collapsed = !children.is_empty()
            && children.iter().all(|c| share(c.time, self.total) < COLLAPSE_FRACTION);
        ViewNode { frame, time: node.time, collapsed, children }
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

#[derive(Serialize)]
struct Page<'a> {
    view: &'a HtmlView,
    css: &'static str,
    js: &'static str,
    data: String,
}

pub fn render(session: &Session, options: &RenderOptions) -> String {
    render_view(&view_model(session, options))
}

/// Fills the template with a view model.
pub fn render_view(view: &HtmlView) -> String {
    let json = serde_json::to_string(view).expect("the view model serialises");
    let page = Page { view, css: CSS, js: JS, data: script_safe_json(&json) };
    let mut hb = Handlebars::new();
    // Everything inserted with {{...}} is HTML-escaped (handlebars' default,
    // covering text and quoted attributes); only the assets and the
    // already-escaped JSON use {{{...}}}.
    hb.register_template_string("report", TEMPLATE).expect("the report template parses");
    hb.render("report", &page).expect("the report template renders")
}

/// Makes JSON safe inside a `<script>` element: `<`, `>` and `&` become
/// `\u003c`, `\u003e`, `\u0026` (so `</script>` or `<!--` in a name cannot
/// end or alter the element), and U+2028/U+2029 are escaped too. These
/// characters can only occur inside JSON strings, where the escapes mean
/// the same characters.
pub fn script_safe_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len() + json.len() / 16);
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
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
            FrameId::new("</script><script>document.title='x'</script>", "/app/a&\"<>.py", 2),
            FrameId::new("lib_fn", "/lib/l.py", 3),
            FrameId::new("tiny", "/lib/l.py", 9),
        ];
        s.stacks = vec![
            StackRecord { frames: vec![0, 1], time: 0.5, samples: 1 },
            StackRecord { frames: vec![0, 2, 3], time: 0.05, samples: 1 },
            StackRecord { frames: vec![0, 2], time: 0.45, samples: 1 },
            StackRecord { frames: vec![0, 3], time: 0.004, samples: 1 },
        ];
        s
    }

    #[test]
    fn view_model_drops_small_children_and_collapses() {
        let v = view_model(&session(), &RenderOptions::default());
        assert_eq!(v.roots.len(), 1);
        let main = &v.roots[0];
        assert_eq!(v.frames[main.frame as usize].function, "main");
        assert!(v.frames[main.frame as usize].application);
        assert!(!main.collapsed);
        // "tiny" (0.4%) is dropped, lib_fn's only child (5%) makes it collapsed.
        assert_eq!(main.children.len(), 2);
        let lib = &main.children[1];
        assert_eq!(v.frames[lib.frame as usize].function, "lib_fn");
        assert!(!v.frames[lib.frame as usize].application);
        assert!(lib.collapsed);
        assert_eq!(v.frames[main.children[0].frame as usize].location, "a&\"<>.py:2");
        let all = view_model(&session(), &RenderOptions { show_all: true, ..Default::default() });
        assert_eq!(all.roots[0].children.len(), 3);
    }

    #[test]
    fn page_escapes_names_everywhere() {
        let html = render(&session(), &RenderOptions::default());
        assert!(!html.contains("</script><script>document"));
        assert!(html.contains("\\u003c/script\\u003e\\u003cscript\\u003edocument.title='x'\\u003c/script\\u003e"));
        assert!(html.contains("<title>pyinstrument: &#x27;&lt;b&gt;&amp;&quot;x&quot;.py&#x27;</title>"), "{}", &html[..400]);
        assert!(!html.contains("<b>"));
        // Exactly the page's own two script elements.
        assert_eq!(html.matches("<script").count(), 2);
        assert_eq!(html.matches("</script>").count(), 2);
        assert!(!html.contains("http://") && !html.contains("https://"), "no network references");
    }

    #[test]
    fn script_safe_json_escapes() {
        assert_eq!(script_safe_json("\"<&>\u{2028}\u{2029}\""), "\"\\u003c\\u0026\\u003e\\u2028\\u2029\"");
        let v: String = serde_json::from_str(&script_safe_json("\"</script>\"")).unwrap();
        assert_eq!(v, "</script>");
    }

    #[test]
    fn empty_session_has_a_message() {
        let mut s = session();
        s.stacks.clear();
        let v = view_model(&s, &RenderOptions::default());
        assert_eq!(v.empty_message.as_deref(), Some("No samples were recorded."));
        assert!(render(&s, &RenderOptions::default()).contains("No samples were recorded."));
    }
}
