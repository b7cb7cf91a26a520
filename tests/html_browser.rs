//! Opens HTML reports in real headless Chromium and checks what a user would
//! see: the tree is drawn, clicking a node collapses and expands it, a
//! collapsed node's children are built when it is opened, application code
//! carries the highlight class, a function named `</script><script>...`
//! stays text, and a report of 100k distinct stacks loads in under 3 s.
//!
//! The report's own script does the clicking when the URL ends in
//! `#selftest` and writes what happened as JSON into `<pre id="selftest">`,
//! which `chromium --dump-dom` prints.
//!
//! Needs `/usr/bin/chromium` (or `$CHROMIUM`); without it the test fails
//! with a message unless `PYINSTRUMENT_SKIP_BROWSER=1`.

#[path = "support/synthetic_session.rs"]
mod synthetic_session;

use pyinstrument::render::{self, Format, RenderOptions};
use pyinstrument::sample::{FrameId, StackRecord};
use pyinstrument::session::Session;
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use synthetic_session::synthetic_session;

/// A scratch directory removed when the test ends, however it ends.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let dir = std::env::temp_dir().join(format!(
            "pyinstrument-browser-{}-{}-{}",
            tag,
            std::process::id(),
            nanos
        ));
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn chromium() -> Option<PathBuf> {
    let path = PathBuf::from(
        std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_string()),
    );
    if path.is_file() {
        return Some(path);
    }
    if std::env::var("PYINSTRUMENT_SKIP_BROWSER").is_ok_and(|v| v == "1") {
        eprintln!(
            "SKIPPED: {} not found and PYINSTRUMENT_SKIP_BROWSER=1",
            path.display()
        );
        return None;
    }
    panic!(
        "headless browser test: {} not found. Install it (apt-get install -y chromium), \
         point $CHROMIUM at a Chromium binary, or set PYINSTRUMENT_SKIP_BROWSER=1 to skip.",
        path.display()
    );
}

struct Loaded {
    dom: String,
    selftest: Value,
    wall: Duration,
}

/// Writes `html` to a file, loads it with `#selftest` in headless Chromium,
/// and returns the dumped DOM and the page's self-test result.
fn load_in_browser(browser: &Path, html: &str, tag: &str) -> Loaded {
    let dir = TempDir::new(tag);
    let file = dir.0.join("report.html");
    fs::write(&file, html).unwrap();
    let url = format!("file://{}#selftest", file.display());
    let started = Instant::now();
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--mute-audio",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.0.join("profile").display()
        ))
        .arg("--dump-dom")
        .arg(&url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {}", browser.display(), e));
    // Read stdout on a thread so a large DOM cannot fill the pipe, and kill
    // the browser if it hangs.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut s).ok();
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut s).ok();
        s
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 90 s on {}", url);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let wall = started.elapsed();
    let dom = out_reader.join().unwrap();
    let err = err_reader.join().unwrap();
    assert!(
        status.success(),
        "chromium failed ({}) on {}:\n{}",
        status,
        url,
        err
    );
    let selftest = selftest_result(&dom).unwrap_or_else(|| {
        panic!(
            "no self-test result in the DOM of {} (did the script run?)\nstderr:\n{}",
            url, err
        )
    });
    Loaded {
        dom,
        selftest,
        wall,
    }
}

fn unescape_html(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

fn selftest_result(dom: &str) -> Option<Value> {
    let start = dom.find("<pre id=\"selftest\">")? + "<pre id=\"selftest\">".len();
    let end = start + dom[start..].find("</pre>")?;
    serde_json::from_str(&unescape_html(&dom[start..end])).ok()
}

fn dom_title(dom: &str) -> String {
    let start = dom.find("<title>").expect("a <title>") + "<title>".len();
    let end = start + dom[start..].find("</title>").unwrap();
    unescape_html(&dom[start..end])
}

fn golden_session(case: &str) -> Session {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(case)
        .join("session.json");
    Session::from_json(&fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn report_tree_renders_and_toggles_in_chromium() {
    let Some(browser) = chromium() else { return };
    let session = golden_session("hostile");
    let html = render::render(&session, Format::Html, &RenderOptions::default());
    let loaded = load_in_browser(&browser, &html, "hostile");
    let r = &loaded.selftest;
    eprintln!("self-test: {}", r);

    // The <script> function name did not run: the title is the page's own.
    let expected_title = "pyinstrument: /srv/app/run.py '--name=</script>' 'a&b \"c\"'";
    assert_eq!(r["title"], expected_title);
    assert_eq!(dom_title(&loaded.dom), expected_title);
    // ...and it is shown as text, like every other hostile name.
    let functions: Vec<&str> = r["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        functions.contains(&"</script><script>document.title='x'</script>"),
        "{:?}",
        functions
    );
    assert!(functions.contains(&"<b>bold</b>"), "{:?}", functions);
    assert!(
        functions.contains(&"semi;colon\nnewline\u{2028}sep"),
        "{:?}",
        functions
    );
    assert!(!loaded.dom.contains("<b>bold</b>"));
    assert!(
        loaded
            .dom
            .contains("we&amp;ird \"&lt;dir&gt;\"/file&amp;\"&lt;&gt;.py:7"),
        "path with &\"<> shown as text"
    );

    // The tree is drawn: main + its 8 children (load starts collapsed).
    assert_eq!(r["nodes"], 9, "{}", r);
    assert!(loaded.dom.contains("class=\"node application\""));
    // Every frame but `<b>bold</b>` (in <string>) is application code here.
    assert_eq!(r["application"], 8, "{}", r);
    assert!(
        loaded.dom.contains("class=\"node\""),
        "library/pseudo-file frames are not highlighted"
    );

    // A click collapses the first expanded node, a second one expands it.
    assert_eq!(r["before"], "true");
    assert_eq!(r["afterClick"], "false");
    assert_eq!(r["hiddenAfterClick"], true);
    assert_eq!(r["afterSecondClick"], "true");
    assert_eq!(r["hiddenAfterSecondClick"], false);
    // A collapsed node builds its children when first opened (load: its
    // `[self]` row and lib_thing).
    assert_eq!(r["lazyExpanded"], "true");
    assert_eq!(r["lazyNewNodes"], 2);
    assert_eq!(r["hiddenGroups"], 0);
}

/// Library code collapsed in the page as in the text report: the
/// `[N frames hidden]` rows are drawn, with the application code called
/// back from inside them.
#[test]
fn hidden_library_rows_are_drawn() {
    let Some(browser) = chromium() else { return };
    let html = render::render(
        &golden_session("callback"),
        Format::Html,
        &RenderOptions::default(),
    );
    let loaded = load_in_browser(&browser, &html, "callback");
    let r = &loaded.selftest;
    assert_eq!(r["hiddenGroups"], 2, "{}", r);
    let functions: Vec<&str> = r["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for name in [
        "[3 frames hidden]",
        "[2 frames hidden]",
        "index",
        "currency",
    ] {
        assert!(functions.contains(&name), "{name} missing: {functions:?}");
    }
    assert!(loaded.dom.contains("asgiref"), "the libraries are named");
}

#[test]
fn empty_report_opens_with_its_message() {
    let Some(browser) = chromium() else { return };
    let html = render::render(
        &golden_session("empty"),
        Format::Html,
        &RenderOptions::default(),
    );
    let loaded = load_in_browser(&browser, &html, "empty");
    assert_eq!(loaded.selftest["nodes"], 0);
    assert!(loaded.dom.contains("No samples were recorded."));
}

#[test]
fn wide_node_builds_its_children_in_chunks() {
    let Some(browser) = chromium() else { return };
    let mut session = golden_session("empty");
    session.frames = (0..1201)
        .map(|i| FrameId::new(&format!("f{:04}", i), "/app/x.py", i + 1))
        .collect();
    session.stacks = (1..1201)
        .map(|i| StackRecord {
            frames: vec![0, i],
            time: 0.001,
            samples: 1,
        })
        .collect();
    let html = render::render(
        &session,
        Format::Html,
        &RenderOptions {
            show_all: true,
            ..Default::default()
        },
    );
    let r = load_in_browser(&browser, &html, "wide").selftest;
    // The one node starts collapsed (every child is under 10%); opening it
    // draws the first 500 children, "more" the next 500.
    assert_eq!(r["nodes"], 1, "{}", r);
    assert_eq!(r["lazyNewNodes"], 500, "{}", r);
    assert_eq!(r["moreNewNodes"], 500, "{}", r);
}

#[test]
fn report_of_100k_distinct_stacks_loads_in_under_3s() {
    let Some(browser) = chromium() else { return };
    let session = synthetic_session(100_000, 1_000_000);
    for (tag, show_all) in [("100k", false), ("100k-all", true)] {
        let html = render::render(
            &session,
            Format::Html,
            &RenderOptions {
                show_all,
                ..Default::default()
            },
        );
        let loaded = load_in_browser(&browser, &html, tag);
        let load_ms = loaded.selftest["loadMs"].as_f64().unwrap();
        eprintln!(
            "{}: {} KiB of HTML, {} nodes drawn, page ready after {:.0} ms (chromium ran {:.2} s)",
            tag,
            html.len() / 1024,
            loaded.selftest["nodes"],
            load_ms,
            loaded.wall.as_secs_f64()
        );
        assert!(loaded.selftest["nodes"].as_u64().unwrap() > 0);
        assert!(
            load_ms < 3000.0,
            "{}: page took {:.0} ms to be ready",
            tag,
            load_ms
        );
    }
}
