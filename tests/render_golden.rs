//! Golden tests for the renderers: every `tests/golden/<case>/session.json`
//! is rendered in each format and compared byte for byte with the files next
//! to it. Each `options-<name>.txt` beside it holds render options, one
//! `-p KEY=VALUE` a line; the text report (unicode, no colour) rendered with
//! them is `text-<name>.txt`. When a change to the output is intended,
//! rewrite them with
//!
//!     BLESS=1 cargo test --test render_golden
//!
//! and review the diff. A mismatch names the golden file and the first line
//! that differs.

use pyinstrument::processors::Context;
use pyinstrument::render::{self, html, Format, RenderOptions};
use pyinstrument::session::Session;
use pyinstrument::tree;
use std::fs;
use std::path::{Path, PathBuf};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("golden")
}

fn cases() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(golden_dir())
        .expect("tests/golden exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("session.json").is_file())
        .collect();
    dirs.sort();
    assert!(
        !dirs.is_empty(),
        "no golden cases under {}",
        golden_dir().display()
    );
    dirs
}

fn load(case: &Path) -> Session {
    let text = fs::read_to_string(case.join("session.json")).unwrap();
    Session::from_json(&text).unwrap_or_else(|e| panic!("{}: {}", case.display(), e))
}

fn blessing() -> bool {
    std::env::var("BLESS").is_ok_and(|v| v == "1")
}

/// Compares `actual` with the golden file (or rewrites it when blessing);
/// returns a description of the first difference.
fn check(path: &Path, actual: &str) -> Option<String> {
    let shown = path
        .strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap_or(path)
        .display()
        .to_string();
    if blessing() {
        fs::write(path, actual).unwrap();
        return None;
    }
    let expected = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            return Some(format!(
                "{}: cannot read ({}); run with BLESS=1 to create it",
                shown, e
            ))
        }
    };
    if expected == actual {
        return None;
    }
    let mut exp_lines = expected.split('\n');
    let mut act_lines = actual.split('\n');
    let mut line = 1;
    loop {
        match (exp_lines.next(), act_lines.next()) {
            (Some(e), Some(a)) if e == a => line += 1,
            (e, a) => {
                return Some(format!(
                    "{}:{}: output differs from the golden file (BLESS=1 rewrites it)\n  expected: {:?}\n  actual:   {:?}",
                    shown,
                    line,
                    e.unwrap_or("<end of file>"),
                    a.unwrap_or("<end of file>")
                ))
            }
        }
    }
}

/// The case's option sets: (name, options) from each `options-<name>.txt`.
fn option_sets(case: &Path) -> Vec<(String, RenderOptions)> {
    let mut sets = Vec::new();
    for entry in fs::read_dir(case).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let Some(name) = file
            .strip_prefix("options-")
            .and_then(|rest| rest.strip_suffix(".txt"))
        else {
            continue;
        };
        let mut options = RenderOptions {
            unicode: true,
            ..Default::default()
        };
        for line in fs::read_to_string(&path).unwrap().lines() {
            options
                .set(line)
                .unwrap_or_else(|e| panic!("{}: {}", path.display(), e));
        }
        options.check().unwrap();
        sets.push((name.to_string(), options));
    }
    sets.sort_by(|a, b| a.0.cmp(&b.0));
    sets
}

fn outputs(session: &Session) -> Vec<(&'static str, String)> {
    let text = |unicode, color, show_all| {
        render::render(
            session,
            Format::Text,
            &RenderOptions {
                unicode,
                color,
                show_all,
                ..Default::default()
            },
        )
    };
    let view = html::view_model(session, &RenderOptions::default());
    let mut view_json = serde_json::to_string_pretty(&view).unwrap();
    view_json.push('\n');
    // What the page shows on opening (it computes it from the view model;
    // tests/html_browser.rs holds the two equal).
    let shown = html::default_tree(session, &RenderOptions::default());
    let mut tree_json = serde_json::to_string_pretty(&shown).unwrap();
    tree_json.push('\n');
    vec![
        ("text-ascii.txt", text(false, false, false)),
        ("text-ascii-color.txt", text(false, true, false)),
        ("text-unicode.txt", text(true, false, false)),
        ("text-unicode-color.txt", text(true, true, false)),
        ("text-show-all.txt", text(true, false, true)),
        ("html-view.json", view_json),
        ("html-tree.json", tree_json),
        (
            "speedscope.json",
            render::render(session, Format::Speedscope, &RenderOptions::default()),
        ),
        (
            "collapsed.txt",
            render::render(session, Format::Collapsed, &RenderOptions::default()),
        ),
    ]
}

#[test]
fn golden_outputs() {
    let mut failures = Vec::new();
    for case in cases() {
        let session = load(&case);
        for (name, actual) in outputs(&session) {
            if let Some(f) = check(&case.join(name), &actual) {
                failures.push(f);
            }
        }
        for (name, options) in option_sets(&case) {
            let actual = render::render(&session, Format::Text, &options);
            if let Some(f) = check(&case.join(format!("text-{name}.txt")), &actual) {
                failures.push(f);
            }
        }
    }
    assert!(failures.is_empty(), "\n{}\n", failures.join("\n"));
}

/// Every rule's golden case has the option sets the issue lists, so that a
/// case dropped by accident fails here rather than silently.
#[test]
fn every_rule_has_its_golden_case() {
    let want: &[(&str, &[&str])] = &[
        (
            "callback",
            &[
                "show-glob",
                "show-regex",
                "hide-glob",
                "hide-regex",
                "hide-and-show",
                "no-grouping",
            ],
        ),
        ("library-root", &[]),
        ("single-library-frame", &[]),
        ("all-library", &[]),
        ("tracebackhide", &["keep"]),
        ("importlib", &["keep"]),
        ("uncaught-exception", &[]),
        ("module-run", &[]),
        ("timeline", &["timeline"]),
        (
            "demo",
            &[
                "flat",
                "flat-total",
                "percent",
                "threshold",
                "threshold-zero",
                "timeline-unknown-order",
            ],
        ),
    ];
    for (case, sets) in want {
        let dir = golden_dir().join(case);
        assert!(dir.join("session.json").is_file(), "missing case {case}");
        assert!(
            dir.join("text-show-all.txt").is_file(),
            "{case}: no --show-all golden"
        );
        let names: Vec<String> = option_sets(&dir).into_iter().map(|(n, _)| n).collect();
        for set in *sets {
            assert!(
                names.iter().any(|n| n == set),
                "{case}: no options-{set}.txt"
            );
        }
    }
}

#[test]
fn json_round_trips_and_rerenders_identically() {
    for case in cases() {
        let session = load(&case);
        let saved = render::render(&session, Format::Json, &RenderOptions::default());
        let loaded = Session::from_json(&saved).unwrap();
        assert_eq!(loaded, session, "{}", case.display());
        let opts = RenderOptions {
            unicode: true,
            color: true,
            ..Default::default()
        };
        for format in [
            Format::Text,
            Format::Html,
            Format::Speedscope,
            Format::Collapsed,
        ] {
            assert_eq!(
                render::render(&loaded, format, &opts),
                render::render(&session, format, &opts),
                "{} {:?}",
                case.display(),
                format
            );
        }
        for (name, options) in option_sets(&case) {
            for format in [Format::Text, Format::Html] {
                assert_eq!(
                    render::render(&loaded, format, &options),
                    render::render(&session, format, &options),
                    "{} {} {:?}",
                    case.display(),
                    name,
                    format
                );
            }
        }
    }
}

#[test]
fn golden_trees_keep_the_invariant_through_every_transform() {
    for case in cases() {
        let session = load(&case);
        let mut root = tree::build(&session);
        root.check_invariant().unwrap();
        let ctx = render::context(&session, &RenderOptions::default(), root.time, 0.01);
        for &step in render::DISPLAY_PROCESSORS {
            root = step(root, &ctx);
            root.check_invariant()
                .unwrap_or_else(|e| panic!("{}: {}", case.display(), e));
        }
    }
}

#[test]
fn golden_timelines_keep_the_invariant_and_the_total() {
    for case in cases() {
        let session = load(&case);
        let root = pyinstrument::timeline::build(&session);
        root.check_invariant()
            .unwrap_or_else(|e| panic!("{}: {}", case.display(), e));
        if session.time_order_known() {
            let total = tree::total_time(&session);
            assert!(
                (root.time - total).abs() < 1e-9,
                "{}: timeline {} != stacks {}",
                case.display(),
                root.time,
                total
            );
        } else {
            assert!(root.children.is_empty(), "{}", case.display());
        }
    }
}

#[test]
fn hostile_names_are_escaped_in_every_format() {
    let session = load(&golden_dir().join("hostile"));
    let page = render::render(&session, Format::Html, &RenderOptions::default());
    assert_eq!(
        page.matches("<script").count(),
        2,
        "only the page's own script elements"
    );
    assert!(!page.contains("document.title='x'</script>"));
    assert!(!page.contains("<b>bold</b>") && !page.contains("<dir>") && !page.contains("<tags>"));
    assert!(page.contains("we&amp;ird &quot;&lt;dir&gt;&quot;") || page.contains("we\\u0026ird"));
    assert!(page.contains("note with &lt;tags&gt; &amp; &quot;quotes&quot;"));
    assert!(
        !page.contains('\u{2028}'),
        "U+2028 must be escaped in embedded JSON"
    );

    let collapsed = render::render(&session, Format::Collapsed, &RenderOptions::default());
    for line in collapsed.lines() {
        let (stack, weight) = line.rsplit_once(' ').unwrap();
        weight
            .parse::<u64>()
            .unwrap_or_else(|_| panic!("bad weight in {:?}", line));
        assert!(stack.split(';').all(|f| !f.is_empty()), "{:?}", line);
    }
    assert_eq!(collapsed.lines().count(), session.stacks.len());

    let speedscope: serde_json::Value = serde_json::from_str(&render::render(
        &session,
        Format::Speedscope,
        &RenderOptions::default(),
    ))
    .unwrap();
    assert_eq!(
        speedscope["shared"]["frames"][1]["name"],
        "</script><script>document.title='x'</script>"
    );

    let text = render::render(&session, Format::Text, &RenderOptions::default());
    assert!(
        !text.contains('\x1b') && !text.contains("semi;colon\n"),
        "{}",
        text
    );
}

/// Same shape, frames and rows, times equal to within float rounding.
fn same_tree(a: &tree::Node, b: &tree::Node) -> bool {
    a.frame == b.frame
        && a.synthetic == b.synthetic
        && (a.time - b.time).abs() <= 1e-9
        && (a.self_time - b.self_time).abs() <= 1e-9
        && a.children.len() == b.children.len()
        && a.children
            .iter()
            .zip(&b.children)
            .all(|(x, y)| same_tree(x, y))
}

/// The one-pass builder reports use equals the processors it stands for,
/// on every golden session (importlib and __tracebackhide__ ones
/// included), at several thresholds, with and without `[self]` rows.
#[test]
fn build_report_equals_the_processors() {
    use pyinstrument::processors;
    for case in cases() {
        let session = load(&case);
        let total = tree::total_time(&session);
        for min_fraction in [0.0, 0.01, 0.1, 0.5] {
            for self_rows in [true, false] {
                let ctx = Context::new(&session.frames, total, min_fraction);
                let mut steps: Vec<processors::Processor> = vec![
                    processors::remove_runpy_root,
                    processors::remove_importlib,
                    processors::remove_tracebackhide,
                ];
                if self_rows {
                    steps.push(processors::add_self_rows);
                }
                steps.push(processors::prune_small);
                if self_rows {
                    steps.push(processors::drop_lonely_self_rows);
                }
                // Sibling order is the sort's business: compare sorted trees.
                steps.push(processors::sort_by_time);
                let expected = processors::apply(tree::build(&session), &ctx, &steps);
                let remove = |f: &pyinstrument::sample::FrameId| {
                    processors::is_importlib_bootstrap(f) || processors::is_tracebackhide(f)
                };
                let fast = tree::build_report(
                    &session,
                    &processors::is_runpy,
                    &remove,
                    min_fraction * total,
                    self_rows,
                );
                fast.check_invariant().unwrap();
                let fast = processors::sort_by_time(fast, &ctx);
                assert!(
                    same_tree(&fast, &expected),
                    "{} at {} (self rows: {}):\n{:#?}\n!=\n{:#?}",
                    case.display(),
                    min_fraction,
                    self_rows,
                    fast,
                    expected
                );
            }
        }
    }
}
