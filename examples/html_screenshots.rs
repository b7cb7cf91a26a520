//! Screenshots of the HTML report's three views, for the README:
//!
//!     cargo run --example html_screenshots -- SESSION.json OUT_DIR
//!
//! renders the saved session (`pyinstrument -r json -o SESSION.json ...`)
//! as HTML, opens it in headless Chromium (`$CHROMIUM` or
//! `/usr/bin/chromium`) and writes `tree.png`, `timeline.png` and
//! `flame.png` into OUT_DIR. `ci/screenshots.sh` does all of it for
//! examples/demo.py.

#[path = "../tests/support/cdp.rs"]
mod cdp;

use pyinstrument::render::{self, Format, RenderOptions};
use pyinstrument::session::Session;
use std::path::PathBuf;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 2 {
        eprintln!("usage: html_screenshots SESSION.json OUT_DIR");
        std::process::exit(2);
    }
    let session = Session::from_json(&std::fs::read_to_string(&args[0]).expect("read the session"))
        .expect("a session saved with -r json");
    let out = PathBuf::from(&args[1]);
    std::fs::create_dir_all(&out).expect("create the output directory");
    let html = render::render(&session, Format::Html, &RenderOptions::default());
    let page = std::env::temp_dir().join(format!(
        "pyinstrument-screenshots-{}.html",
        std::process::id()
    ));
    std::fs::write(&page, html).expect("write the page");
    let binary = PathBuf::from(
        std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_string()),
    );
    let mut browser = cdp::Browser::start(&binary, 1100, 760);
    browser.open(&format!("file://{}", page.display()));
    // Open the first library group, so the picture shows one both ways.
    browser.eval(
        "(() => { const g = document.querySelector('#tree .node.hidden-group .group-toggle'); \
         if (g) g.click(); })()",
    );
    std::fs::write(out.join("tree.png"), browser.screenshot()).expect("write tree.png");
    browser.click("#tab-timeline");
    // Hover a call, for the tooltip.
    let at = browser.eval(
        "(() => { const r = document.getElementById('timeline').getBoundingClientRect(); \
         return [r.left + r.width * 0.3, r.top + 45]; })()",
    );
    let (x, y) = (at[0].as_f64().unwrap(), at[1].as_f64().unwrap());
    browser.mouse("mouseMoved", x, y);
    std::fs::write(out.join("timeline.png"), browser.screenshot()).expect("write timeline.png");
    browser.mouse("mouseMoved", 1.0, 1.0);
    browser.click("#tab-flame");
    std::fs::write(out.join("flame.png"), browser.screenshot()).expect("write flame.png");
    let _ = std::fs::remove_file(&page);
    for name in ["tree.png", "timeline.png", "flame.png"] {
        println!("{}", out.join(name).display());
    }
}
