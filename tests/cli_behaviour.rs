//! The command line as a user meets it: help, usage errors, --version, and
//! the end-to-end paths (profile the demo to stdout, save JSON and load it
//! again, setprofile mode).

#[path = "support/harness/mod.rs"]
mod harness;

use harness::*;

fn pyinstrument_in(dir: &std::path::Path) -> Run {
    Run::new(pyinstrument(), dir)
}

fn assert_status(out: &Output, want: i32) {
    assert_eq!(out.code(), want, "wrong exit status: {}", out.describe());
}

/// The demo copied into a private directory (so nothing is written into the
/// source tree); returns (dir guard, dir).
fn demo_dir(label: &str) -> TempDir {
    let dir = TempDir::new(label);
    std::fs::copy(
        crate_dir().join("examples").join("demo.py"),
        dir.join("demo.py"),
    )
    .expect("copy demo.py");
    dir
}

#[test]
fn no_arguments_prints_help_and_exits_2() {
    let dir = TempDir::new("cli-noargs");
    let out = pyinstrument_in(dir.path()).output();
    assert_status(&out, 2);
    let stdout = out.stdout_text();
    assert!(
        stdout.starts_with("usage: pyinstrument"),
        "{}",
        out.describe()
    );
    assert!(
        stdout.contains("Options:") && stdout.contains("--outfile"),
        "{}",
        out.describe()
    );
    assert!(out.stderr.is_empty(), "{}", out.describe());
}

#[test]
fn help_option_prints_help_and_exits_0() {
    let dir = TempDir::new("cli-help");
    let no_args = pyinstrument_in(dir.path()).output();
    for flag in ["--help", "-h", "--he"] {
        let out = pyinstrument_in(dir.path()).arg(flag).output();
        assert_status(&out, 0);
        assert!(
            out.stdout_text().starts_with("usage: pyinstrument"),
            "{flag}: {}",
            out.describe()
        );
        assert_eq!(
            out.stdout, no_args.stdout,
            "{flag}: help differs from the no-argument help"
        );
        assert!(
            out.stdout.ends_with(b"\n"),
            "{flag}: the help should end with a newline: {}",
            out.describe()
        );
        assert!(out.stderr.is_empty(), "{flag}: {}", out.describe());
    }
}

#[test]
fn help_after_the_script_belongs_to_the_script() {
    // `pyinstrument script.py --help`: --help is the script's argument.
    let dir = TempDir::new("cli-help-script");
    let scripts = copy_scripts(&dir);
    let out = pyinstrument_in(&scripts)
        .args([
            "-o",
            dir.join("r.txt").to_str().unwrap(),
            "facts.py",
            "argv",
            "--help",
        ])
        .output();
    assert_status(&out, 0);
    assert_eq!(
        out.stdout_text(),
        "argv: ['facts.py', 'argv', '--help']\n",
        "{}",
        out.describe()
    );
}

#[test]
fn unknown_option_is_a_usage_error() {
    let dir = TempDir::new("cli-unknown");
    for args in [
        vec!["--bogus", "x.py"],
        vec!["-Z", "x.py"],
        vec!["--no", "x.py"],
    ] {
        let out = pyinstrument_in(dir.path()).args(&args).output();
        assert_status(&out, 2);
        let stderr = out.stderr_text();
        let mut lines = stderr.lines();
        assert!(
            lines
                .next()
                .unwrap_or("")
                .starts_with("usage: pyinstrument"),
            "{args:?}: the usage line should come first: {}",
            out.describe()
        );
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with("pyinstrument: error: ")),
            "{args:?}: an optparse-style error line: {}",
            out.describe()
        );
        assert!(
            stderr.contains(args[0]),
            "{args:?}: the error should name the option: {}",
            out.describe()
        );
        assert!(out.stdout.is_empty(), "{args:?}: {}", out.describe());
    }
}

#[test]
fn missing_option_value_is_a_usage_error() {
    let dir = TempDir::new("cli-missing-value");
    for args in [
        vec!["-o"],
        vec!["--outfile"],
        vec!["-r"],
        vec!["-m"],
        vec!["--interval"],
    ] {
        let out = pyinstrument_in(dir.path()).args(&args).output();
        assert_status(&out, 2);
        let stderr = out.stderr_text();
        assert!(
            stderr.starts_with("usage: pyinstrument"),
            "{args:?}: {}",
            out.describe()
        );
        assert!(
            stderr.contains("pyinstrument: error: "),
            "{args:?}: {}",
            out.describe()
        );
        assert!(out.stdout.is_empty(), "{args:?}: {}", out.describe());
    }
}

#[test]
fn bad_option_values_are_usage_errors() {
    let dir = TempDir::new("cli-bad-values");
    let scripts = copy_scripts(&dir);
    let marker = dir.join("marker");
    for args in [
        vec!["--interval=0"],
        vec!["--interval=-1"],
        vec!["--interval=abc"],
        vec!["-r", "nosuchrenderer"],
    ] {
        let out = pyinstrument_in(&scripts)
            .args(&args)
            .arg("marker.py")
            .arg(&marker)
            .output();
        assert_status(&out, 2);
        assert!(
            out.stderr_text().contains("pyinstrument: error: "),
            "{args:?}: {}",
            out.describe()
        );
        assert!(
            !marker.exists(),
            "{args:?}: the program ran despite the bad option"
        );
    }
}

#[test]
fn version() {
    let dir = TempDir::new("cli-version");
    let out = pyinstrument_in(dir.path()).arg("--version").output();
    assert_status(&out, 0);
    let stdout = out.stdout_text();
    let (major, minor) = python_version();
    assert!(stdout.starts_with("pyinstrument "), "{}", out.describe());
    assert!(
        stdout.contains(&format!("{major}.{minor}")),
        "should name the Python version: {}",
        out.describe()
    );
    assert!(
        stdout.ends_with('\n') && stdout.lines().count() == 1,
        "{}",
        out.describe()
    );
}

/// The demo's own output comes first, byte for byte as under python, then
/// the report: a genuine call tree with the demo's functions in it.
#[test]
fn demo_report_follows_program_output() {
    let dir = demo_dir("cli-demo");
    let expected = Run::new(python(), dir.path()).arg("demo.py").output();
    assert_status(&expected, 0);
    let out = pyinstrument_in(dir.path()).arg("demo.py").output();
    assert_status(&out, 0);
    assert_eq!(
        out.stderr,
        expected.stderr,
        "stderr differs: {}",
        out.describe()
    );
    assert!(
        out.stdout.starts_with(&expected.stdout),
        "the program's output should come first, unchanged:\npython: {}\n{}",
        expected.stdout_text(),
        out.describe()
    );
    let report = String::from_utf8_lossy(&out.stdout[expected.stdout.len()..]).into_owned();
    assert!(report.contains("main"), "report lacks 'main':\n{report}");
    assert!(
        report.contains("count_words"),
        "report lacks 'count_words':\n{report}"
    );
    assert!(
        report.contains("demo.py"),
        "report lacks the file name:\n{report}"
    );
    // count_words is called from main: its line must be indented deeper.
    let indent = |name: &str| {
        report
            .lines()
            .find(|l| l.contains(name) && l.contains("demo.py"))
            .map(|l| l.find(|c: char| c.is_ascii_digit()).unwrap_or(0))
    };
    let (main_at, count_at) = (indent(" main "), indent("count_words"));
    assert!(
        matches!((main_at, count_at), (Some(m), Some(c)) if c > m),
        "count_words should be nested under main (indents {main_at:?}, {count_at:?}):\n{report}"
    );
    assert!(
        !report.contains('\x1b'),
        "no colour codes when stdout is not a terminal:\n{report}"
    );
}

/// `-r json -o x.json`, then `--load x.json` renders the same call tree as
/// text (to stdout, and to a file with -o).
#[test]
fn json_save_and_load() {
    let dir = demo_dir("cli-json");
    let out = pyinstrument_in(dir.path())
        .args(["-r", "json", "-o", "x.json", "demo.py"])
        .output();
    assert_status(&out, 0);
    let json = std::fs::read_to_string(dir.join("x.json")).expect("x.json written");
    assert!(
        json.trim_start().starts_with('{'),
        "not JSON: {}",
        excerpt(json.as_bytes())
    );
    assert!(
        json.contains("count_words"),
        "the saved profile lacks count_words"
    );

    let loaded = pyinstrument_in(dir.path())
        .args(["--load", "x.json"])
        .output();
    assert_status(&loaded, 0);
    let text = loaded.stdout_text();
    assert!(
        text.contains("main") && text.contains("count_words"),
        "{}",
        loaded.describe()
    );

    let to_file = pyinstrument_in(dir.path())
        .args(["--load", "x.json", "-o", "again.txt"])
        .output();
    assert_status(&to_file, 0);
    let again = std::fs::read_to_string(dir.join("again.txt")).expect("again.txt written");
    assert!(again.contains("count_words"), "{again}");
    assert!(to_file.stdout.is_empty(), "{}", to_file.describe());

    let missing = pyinstrument_in(dir.path())
        .args(["--load", "no-such.json"])
        .output();
    assert_ne!(missing.code(), 0, "{}", missing.describe());
    assert!(
        missing.stderr_text().contains("no-such.json"),
        "{}",
        missing.describe()
    );
}

/// `--target-description` replaces the header's `Program:` line, in text
/// and HTML; it is saved with the session, so `--load` shows it again, and
/// `--load` can give another one.
#[test]
fn target_description_is_shown_and_kept() {
    let dir = demo_dir("cli-target-description");
    let out = pyinstrument_in(dir.path())
        .args([
            "--target-description",
            "nightly <import> job",
            "-o",
            "x.txt",
        ])
        .args(["-c", "import time; time.sleep(0.01)"])
        .output();
    assert_status(&out, 0);
    let text = std::fs::read_to_string(dir.join("x.txt")).expect("x.txt written");
    assert!(
        text.starts_with("nightly <import> job\nDuration:"),
        "{text}"
    );
    let out = pyinstrument_in(dir.path())
        .args([
            "--target-description",
            "nightly <import> job",
            "-o",
            "x.json",
        ])
        .args(["-c", "import time; time.sleep(0.01)"])
        .output();
    assert_status(&out, 0);
    let loaded = pyinstrument_in(dir.path())
        .args(["--load", "x.json", "-r", "html"])
        .output();
    assert_status(&loaded, 0);
    let html = loaded.stdout_text();
    assert!(
        html.contains("<span class=\"value\">nightly &lt;import&gt; job</span>")
            && !html.contains(">Program: <span"),
        "{}",
        excerpt(html.as_bytes())
    );
    let other = pyinstrument_in(dir.path())
        .args(["--load", "x.json", "--target-description", "renamed"])
        .output();
    assert_status(&other, 0);
    assert!(
        other.stdout_text().starts_with("renamed\n"),
        "{}",
        other.describe()
    );
    // Without it, the header is the command line, as before.
    let plain = pyinstrument_in(dir.path()).args(["-c", "pass"]).output();
    assert_status(&plain, 0);
    assert!(
        plain.stdout_text().contains("Program: -c pass\n"),
        "{}",
        plain.describe()
    );
}

/// `--setprofile` profiles the demo too.
#[test]
fn setprofile_mode_on_demo() {
    let dir = demo_dir("cli-setprofile");
    let expected = Run::new(python(), dir.path()).arg("demo.py").output();
    let out = pyinstrument_in(dir.path())
        .args(["--setprofile", "demo.py"])
        .output();
    assert_status(&out, 0);
    assert!(
        out.stdout.starts_with(&expected.stdout),
        "{}",
        out.describe()
    );
    let report = String::from_utf8_lossy(&out.stdout[expected.stdout.len()..]).into_owned();
    assert!(
        report.contains("main") && report.contains("count_words"),
        "report:\n{report}"
    );
}

/// optparse accepts unique prefixes of long options.
#[test]
fn long_option_prefixes() {
    let dir = TempDir::new("cli-prefix");
    let scripts = copy_scripts(&dir);
    let out = pyinstrument_in(&scripts)
        .args(["--setprof", "--out=r.txt", "busy.py"])
        .output();
    assert_status(&out, 0);
    assert!(
        out.stdout_text().starts_with("busy done"),
        "{}",
        out.describe()
    );
    let report = std::fs::read_to_string(scripts.join("r.txt")).expect("report written");
    assert!(
        report.contains("leaf") || report.contains("branch"),
        "{report}"
    );
}

/// `python -m pyinstrument`-style options before `-m`: the module's own
/// arguments follow it untouched.
#[test]
fn module_arguments_after_m() {
    let dir = TempDir::new("cli-m");
    let scripts = copy_scripts(&dir);
    let out = pyinstrument_in(&scripts)
        .args([
            "-o",
            dir.join("r.txt").to_str().unwrap(),
            "-m",
            "parity_mod",
            "-o",
            "--html",
        ])
        .output();
    assert_status(&out, 0);
    assert!(
        out.stdout_text().starts_with("argv: ['"),
        "{}",
        out.describe()
    );
    assert!(
        out.stdout_text().contains("'-o', '--html']"),
        "{}",
        out.describe()
    );
}

/// The text report's tree lines as (indent, function, location), in order:
/// `│  └─ 0.300 level1  callers.py:31` gives (indent of the time, "level1",
/// "callers.py:31").
fn tree_lines(report: &str) -> Vec<(usize, String, String)> {
    report
        .lines()
        .filter_map(|line| {
            let start = line.find(|c: char| c.is_ascii_digit())?;
            let prefix = &line[..start];
            if !prefix.chars().all(|c| " │├└─|`-".contains(c)) {
                return None; // a header line
            }
            let (_time, rest) = line[start..].split_once(' ')?;
            let (function, location) = rest.split_once("  ")?;
            Some((
                prefix.chars().count(),
                function.to_string(),
                location.trim().to_string(),
            ))
        })
        .collect()
}

/// The report shows where the time went from the program's first frame
/// down, even when the tree branches only deep inside (at `busy`, which
/// both works itself and calls a helper), and whether the program returns
/// or dies of an uncaught exception.
#[test]
fn report_keeps_every_caller_of_the_busy_function() {
    let dir = TempDir::new("cli-callers");
    let scripts = copy_scripts(&dir);
    let chain = ["<module>", "level1", "level2", "level3", "busy"];
    for ending in ["return", "raise"] {
        let expected = Run::new(python(), &scripts)
            .args(["callers.py", ending])
            .output();
        for options in [&[][..], &["--setprofile"][..]] {
            let context = format!("{options:?} callers.py {ending}");
            let report_path = dir.join("report.txt");
            let out = pyinstrument_in(&scripts)
                .args(options)
                .arg("-o")
                .arg(&report_path)
                .args(["callers.py", ending])
                .output();
            assert_eq!(
                (out.code(), &out.stdout),
                (expected.code(), &expected.stdout),
                "{context}: {}",
                out.describe()
            );
            let report = std::fs::read_to_string(&report_path).expect("report written");
            let lines = tree_lines(&report);
            // The heaviest top-level frame comes first: the script itself
            // (whose first line is the docstring's last before 3.8).
            assert!(
                lines
                    .first()
                    .is_some_and(|(indent, function, location)| *indent == 0
                        && function == "<module>"
                        && location.starts_with("callers.py:")),
                "{context}: the report should start at the program's first frame:\n{report}"
            );
            let mut at = 0;
            let mut indent = 0;
            for (depth, name) in chain.iter().enumerate() {
                let found = lines[at..]
                    .iter()
                    .position(|(_, f, l)| f == name && l.starts_with("callers.py:"));
                let Some(offset) = found else {
                    panic!(
                        "{context}: {name} missing after {:?}:\n{report}",
                        chain[..depth].to_vec()
                    );
                };
                at += offset;
                assert!(
                    depth == 0 || lines[at].0 > indent,
                    "{context}: {name} should be nested under {}:\n{report}",
                    chain[depth - 1]
                );
                indent = lines[at].0;
            }
            std::fs::remove_file(&report_path).expect("remove report");
        }
    }
}

/// In setprofile mode, a program that replaces pyinstrument's profile
/// function (with its own, with none, or through cProfile before 3.12) ends
/// sampling, and the report says so; it says nothing when the program
/// leaves the profile function alone. The program itself runs as under
/// python.
#[test]
fn replaced_profile_function_is_noted() {
    let dir = TempDir::new("cli-takeover");
    let scripts = copy_scripts(&dir);
    let report = dir.join("r.json");
    for (how, replaced) in [
        ("keep", false),
        ("none", true),
        ("function", true),
        // Since 3.12 cProfile profiles through sys.monitoring and leaves
        // the profile function alone.
        ("cprofile", python_version() < (3, 12)),
    ] {
        let expected = Run::new(python(), &scripts)
            .args(["profile_takeover.py", how])
            .output();
        assert_status(&expected, 0);
        let out = pyinstrument_in(&scripts)
            .args(["--setprofile", "-r", "json", "-o"])
            .arg(&report)
            .args(["profile_takeover.py", how])
            .output();
        assert_eq!(
            (out.code(), &out.stdout, &out.stderr),
            (expected.code(), &expected.stdout, &expected.stderr),
            "{how}: {}",
            out.describe()
        );
        let json = std::fs::read_to_string(&report).expect("report written");
        let session = pyinstrument::session::Session::from_json(&json).expect("a session");
        let noted = session
            .notes
            .iter()
            .any(|n| n.contains("replaced pyinstrument's profile function"));
        assert_eq!(noted, replaced, "{how}: notes {:?}", session.notes);
    }
}

/// Every render option means the same through the Python API and through
/// `--load` of the session it saved, spelled as on the command line: the
/// reports are byte for byte the same.
#[test]
fn render_options_are_identical_through_the_api_and_load() {
    let dir = TempDir::new("cli-render-options");
    let scripts = copy_scripts(&dir);
    // (API keyword arguments as JSON, the command line's spelling)
    let cases: &[(&str, &[&str])] = &[
        ("{}", &[]),
        (r#"{"show_all": true}"#, &["--show-all"]),
        (
            r#"{"time": "percent_of_total"}"#,
            &["-p", "time=percent_of_total"],
        ),
        (r#"{"flat": true}"#, &["-p", "flat"]),
        (
            r#"{"flat": true, "flat_time": "total"}"#,
            &["-p", "flat=true", "-p", "flat_time=total"],
        ),
        (r#"{"hide": "*/json/*"}"#, &["--hide", "*/json/*"]),
        (
            r#"{"hide_regex": ".*/json/"}"#,
            &["--hide-regex", ".*/json/"],
        ),
        (r#"{"show": "*/json/*"}"#, &["--show", "*/json/*"]),
        (
            r#"{"show_regex": ".*/json/"}"#,
            &["--show-regex", ".*/json/"],
        ),
        (r#"{"timeline": true}"#, &["-t"]),
        (
            r#"{"processor_options": {"filter_threshold": 0}}"#,
            &["-p", "processor_options.filter_threshold=0"],
        ),
        (
            r#"{"filter_threshold": 0.2}"#,
            &["-p", "filter_threshold=0.2"],
        ),
        (
            r#"{"remove_importlib": false, "group_library_frames": false}"#,
            &[
                "-p",
                "remove_importlib=false",
                "-p",
                "group_library_frames=false",
            ],
        ),
        (
            r#"{"remove_tracebackhide": false}"#,
            &["-p", "remove_tracebackhide=false"],
        ),
    ];
    let out = pyinstrument_in(&scripts)
        .args(["-o", "/dev/null", "render_options.py"])
        .arg(dir.path())
        .args(cases.iter().map(|(kwargs, _)| *kwargs))
        .output();
    assert_status(&out, 0);
    let session = dir.join("session.json");
    let mut differing = Vec::new();
    for (index, (kwargs, cli)) in cases.iter().enumerate() {
        for (renderer, extension) in [("text", "txt"), ("html", "html")] {
            let api = std::fs::read_to_string(dir.join(format!("api-{index}.{extension}")))
                .expect("the API wrote its report");
            let loaded = pyinstrument_in(dir.path())
                .args(["--no-unicode", "--no-color", "-r", renderer, "--load"])
                .arg(&session)
                .args(*cli)
                .output();
            assert_status(&loaded, 0);
            if loaded.stdout_text() != api {
                differing.push(format!(
                    "{kwargs} / {cli:?} ({renderer}):\n--- API\n{api}\n--- --load\n{}",
                    loaded.stdout_text()
                ));
            }
        }
    }
    assert!(differing.is_empty(), "{}", differing.join("\n"));
    // The options change the report (a test that could not fail would
    // prove nothing): the default collapses json, --show-all does not.
    let text = |i: usize| std::fs::read_to_string(dir.join(format!("api-{i}.txt"))).unwrap();
    assert!(text(0).contains("frames hidden]"), "{}", text(0));
    assert!(text(0).contains("encode_price"), "{}", text(0));
    assert!(!text(1).contains("frames hidden]"), "{}", text(1));
    assert!(text(2).contains('%'), "{}", text(2));
}

/// A bad render option is a usage error before the program runs.
#[test]
fn bad_render_options_stop_before_the_program_runs() {
    let dir = TempDir::new("cli-bad-render-option");
    let scripts = copy_scripts(&dir);
    for args in [
        &["-p", "time=minutes"][..],
        &["-p", "colour"],
        &["--hide-regex", "("],
        &["-p", "flat", "-t"],
        &["--show", "a", "--show-all"],
    ] {
        let out = pyinstrument_in(&scripts).args(args).arg("busy.py").output();
        assert_status(&out, 2);
        assert!(out.stdout.is_empty(), "the program ran: {}", out.describe());
        assert!(
            out.stderr_text().contains("pyinstrument: error: "),
            "{}",
            out.describe()
        );
    }
}

/// The runner's end-of-run hook is its own: a program that imports
/// `_pyinstrument` finds only the public API, cannot end its own profile,
/// and is profiled to its end.
#[test]
fn the_program_cannot_reach_the_runners_end_of_run_hook() {
    let dir = TempDir::new("cli-private-hook");
    std::fs::write(
        dir.join("reach.py"),
        "import sys, time\n\
         import _pyinstrument\n\
         print(sorted(n for n in dir(_pyinstrument) if not n.startswith('__')))\n\
         print([m for m in sys.modules if 'runner' in m])\n\
         def after_reaching():\n\
         \x20   end = time.time() + 0.05\n\
         \x20   while time.time() < end: pass\n\
         after_reaching()\n",
    )
    .unwrap();
    let out = pyinstrument_in(dir.path()).arg("reach.py").output();
    assert_status(&out, 0);
    let stdout = out.stdout_text();
    assert!(
        stdout.starts_with("['combine', 'render', 'start', 'stop']\n[]\n"),
        "{}",
        out.describe()
    );
    assert!(stdout.contains("after_reaching"), "{}", out.describe());
}

/// `--from-path NAME` runs the executable script NAME found on PATH (as
/// `python $(which NAME)` would), with the arguments after it; a name not
/// on PATH is a clear error, exit 2, before anything runs.
#[test]
fn from_path_runs_the_script_found_on_path() {
    let dir = TempDir::new("cli-from-path");
    let bin = dir.join("bin");
    std::fs::create_dir(&bin).unwrap();
    let tool = bin.join("tool_on_path");
    std::fs::write(
        &tool,
        "#!/usr/bin/env python\n\
         import sys, time\n\
         print(sys.argv)\n\
         def tool_work():\n\
         \x20   end = time.time() + 0.05\n\
         \x20   while time.time() < end: pass\n\
         tool_work()\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = pyinstrument_in(dir.path())
        .env("PATH", Some(&path))
        .args(["--from-path", "tool_on_path", "-x", "y"])
        .output();
    assert_status(&out, 0);
    let stdout = out.stdout_text();
    assert!(
        stdout.starts_with(&format!("['{}', '-x', 'y']\n", tool.display())),
        "{}",
        out.describe()
    );
    assert!(stdout.contains("tool_work"), "{}", out.describe());
    // Without --from-path the name is a file in the current directory.
    let here = pyinstrument_in(dir.path())
        .env("PATH", Some(&path))
        .arg("tool_on_path")
        .output();
    assert_status(&here, 2);
    let missing = pyinstrument_in(dir.path())
        .env("PATH", Some(&path))
        .args(["--from-path", "no_such_tool_xyz"])
        .output();
    assert_status(&missing, 2);
    assert!(
        missing
            .stderr_text()
            .contains("can't find 'no_such_tool_xyz' on PATH"),
        "{}",
        missing.describe()
    );
}

/// `cmd` run with its stdout and stderr on a terminal (util-linux
/// `script`), with the output the terminal showed; None (the caller skips,
/// loudly) where `script` is missing.
fn run_on_a_terminal(
    dir: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> Option<(i32, String)> {
    let quote = |a: &str| format!("'{}'", a.replace('\'', "'\\''"));
    let mut command: Vec<String> = env
        .iter()
        .map(|(k, v)| format!("{k}={}", quote(v)))
        .collect();
    command.push(quote(&pyinstrument().to_string_lossy()));
    command.extend(args.iter().map(|a| quote(a)));
    let out = std::process::Command::new("script")
        .args(["-qec", &command.join(" "), "/dev/null"])
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    Some((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}

/// `-r pstats` writes the marshal file python's `pstats` reads (checked
/// with this Python's own pstats), and refuses a terminal before the
/// program runs.
#[test]
fn pstats_file_loads_in_pythons_pstats() {
    let dir = demo_dir("cli-pstats");
    for args in [
        &["-r", "pstats", "-o", "demo.pstats", "demo.py"][..],
        &["-o", "demo.prof", "demo.py"],
    ] {
        let out = pyinstrument_in(dir.path()).args(args).output();
        assert_status(&out, 0);
        let file = args[args.len() - 2];
        let check = Run::new(python(), dir.path())
            .args([
                "-c",
                "import pstats, sys\n\
                 s = pstats.Stats(sys.argv[1])\n\
                 by_name = dict((k[2], v) for k, v in s.stats.items() if k[0].endswith('demo.py'))\n\
                 module, main, words = by_name['<module>'], by_name['main'], by_name['count_words']\n\
                 assert module[3] >= main[3] >= words[3] > 0, (module, main, words)\n\
                 assert s.total_tt > 0.05, s.total_tt\n\
                 callers = words[4]\n\
                 assert [k[2] for k in callers] == ['main'], callers\n\
                 s.sort_stats('cumulative').print_stats(3)\n\
                 print('PSTATS OK')\n",
                file,
            ])
            .output();
        assert!(
            check.status.success() && check.stdout_text().contains("PSTATS OK"),
            "{args:?}: {}",
            check.describe()
        );
    }
    match run_on_a_terminal(dir.path(), &["-r", "pstats", "demo.py"], &[]) {
        None => skip_part(
            "pstats_file_loads_in_pythons_pstats",
            "no `script` command for a terminal",
        ),
        Some((status, shown)) => {
            assert_eq!(status, 1, "{shown}");
            assert!(shown.contains("pstats is a binary format"), "{shown}");
            assert!(!shown.contains("count_words"), "the program ran: {shown}");
        }
    }
}

/// A text report on a terminal saves the session (the last 10, under
/// `$XDG_DATA_HOME/pyinstrument/sessions`) and prints a `--load-prev ID`
/// hint; `--load-prev ID` renders it again with other options. Reports not
/// on a terminal save nothing.
#[test]
fn load_prev_renders_the_last_sessions_again() {
    let dir = demo_dir("cli-load-prev");
    let data = dir.join("data");
    let sessions = data.join("pyinstrument").join("sessions");
    std::fs::create_dir_all(&sessions).unwrap();
    // Eleven older sessions (ids sort by time): only the newest 9 of them
    // stay beside the new one.
    for n in 0..11 {
        std::fs::write(
            sessions.join(format!("2000-01-01T00-00-{n:02}-000.json")),
            "{}",
        )
        .unwrap();
    }
    let data_text = data.to_string_lossy().into_owned();
    let Some((status, shown)) =
        run_on_a_terminal(dir.path(), &["demo.py"], &[("XDG_DATA_HOME", &data_text)])
    else {
        skip_test(
            "load_prev_renders_the_last_sessions_again",
            "no `script` command for a terminal",
        );
        return;
    };
    assert_eq!(status, 0, "{shown}");
    assert!(shown.contains("count_words"), "{shown}");
    let id = shown
        .split("pyinstrument --load-prev ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no hint: {shown}"))
        .to_string();
    assert!(
        shown.contains(&format!("--load-prev {id} [options]")),
        "{shown}"
    );
    let mut kept = list_dir(&sessions);
    kept.sort();
    assert_eq!(kept.len(), 10, "{kept:?}");
    assert_eq!(kept[0], "2000-01-01T00-00-02-000.json", "{kept:?}");
    assert_eq!(kept[9], format!("{id}.json"));

    let again = pyinstrument_in(dir.path())
        .env("XDG_DATA_HOME", Some(&data_text))
        .args(["--load-prev", &id, "-p", "time=percent_of_total"])
        .output();
    assert_status(&again, 0);
    let text = again.stdout_text();
    assert!(
        text.contains("count_words") && text.contains('%'),
        "{}",
        again.describe()
    );
    // Not a terminal: nothing saved, no hint.
    assert!(
        !again.stderr_text().contains("--load-prev"),
        "{}",
        again.describe()
    );
    let piped = pyinstrument_in(dir.path())
        .env("XDG_DATA_HOME", Some(&data_text))
        .arg("demo.py")
        .output();
    assert_status(&piped, 0);
    assert_eq!(list_dir(&sessions).len(), 10);
    assert!(
        !piped.stderr_text().contains("--load-prev"),
        "{}",
        piped.describe()
    );

    let missing = pyinstrument_in(dir.path())
        .env("XDG_DATA_HOME", Some(&data_text))
        .args(["--load-prev", "1999-nope"])
        .output();
    assert_status(&missing, 1);
    assert!(
        missing
            .stderr_text()
            .contains("no saved session '1999-nope'")
            && missing.stderr_text().contains(&id),
        "{}",
        missing.describe()
    );
}

/// `-r html` with no `-o`, on a terminal: the page goes to a temporary file
/// opened with `$BROWSER` (here a script that records what it was given);
/// not on a terminal, the page is printed as before.
#[test]
fn html_on_a_terminal_opens_the_browser() {
    let dir = demo_dir("cli-browser");
    let record = dir.join("opened.txt");
    let browser = dir.join("fake-browser");
    std::fs::write(
        &browser,
        format!("#!/bin/sh\nprintf '%s' \"$1\" > '{}'\n", record.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&browser, std::fs::Permissions::from_mode(0o755)).unwrap();
    let browser_text = browser.to_string_lossy().into_owned();
    let Some((status, shown)) = run_on_a_terminal(
        dir.path(),
        &["-r", "html", "demo.py"],
        &[("BROWSER", &browser_text)],
    ) else {
        skip_test(
            "html_on_a_terminal_opens_the_browser",
            "no `script` command for a terminal",
        );
        return;
    };
    assert_eq!(status, 0, "{shown}");
    assert!(
        !shown.contains("<html"),
        "the page went to the terminal: {shown}"
    );
    let address = std::fs::read_to_string(&record).expect("the browser was not started");
    let path = address.strip_prefix("file://").expect("a file:// address");
    assert!(shown.contains(path), "{shown}");
    let page = std::fs::read_to_string(path).expect("the page");
    assert!(
        page.contains("count_words") && page.contains("<html"),
        "{}",
        excerpt(page.as_bytes())
    );
    let _ = std::fs::remove_file(path);

    let piped = pyinstrument_in(dir.path())
        .env("BROWSER", Some(&browser_text))
        .args(["-r", "html", "demo.py"])
        .output();
    assert_status(&piped, 0);
    assert!(
        piped.stdout_text().contains("<html"),
        "{}",
        piped.describe()
    );
}

/// `--load` reads pyinstrument 5's session files: one written by
/// pyinstrument 5.1.3 itself, installed from PyPI into a scratch virtualenv
/// (skipped, loudly, where it cannot be installed: no network, or a Python
/// it does not support, which is anything before 3.8).
#[test]
fn load_reads_a_pyinstrument_5_session_file() {
    let name = "load_reads_a_pyinstrument_5_session_file";
    if python_version() < (3, 8) {
        skip_test(name, "pyinstrument 5.1.3 needs Python 3.8+");
        return;
    }
    let dir = demo_dir("cli-pyisession");
    let venv = dir.join("venv5");
    let made = Run::new(python(), dir.path())
        .args(["-m", "venv"])
        .arg(venv.as_os_str())
        .output();
    if !made.status.success() {
        skip_test(
            name,
            &format!("cannot make a virtualenv: {}", made.describe()),
        );
        return;
    }
    let installed = Run::new(venv.join("bin").join("python"), dir.path())
        .args([
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "--timeout",
            "30",
            "pyinstrument==5.1.3",
        ])
        .output();
    if !installed.status.success() {
        skip_test(
            name,
            &format!(
                "cannot install pyinstrument 5.1.3 from PyPI: {}",
                excerpt(&installed.stderr)
            ),
        );
        return;
    }
    let theirs = Run::new(venv.join("bin").join("pyinstrument"), dir.path())
        .args(["-r", "session", "-o", "demo.pyisession", "demo.py"])
        .output();
    assert!(theirs.status.success(), "{}", theirs.describe());

    let ours = pyinstrument_in(dir.path())
        .args(["--load", "demo.pyisession", "--show-all"])
        .output();
    assert_status(&ours, 0);
    let text = ours.stdout_text();
    for function in [
        "main",
        "count_words",
        "make_text",
        "Inventory.round_trip",
        "fib",
    ] {
        assert!(
            text.contains(function),
            "{function} missing: {}",
            ours.describe()
        );
    }
    // pyinstrument's own frames (its command, runpy) are not in the tree.
    assert!(
        !text.contains("__main__.py") && !text.contains("runpy"),
        "{text}"
    );
    assert!(text.contains("pyinstrument 5 session file"), "{text}");
    // Saved again as our JSON, it loads as ours, with the same report.
    let converted = pyinstrument_in(dir.path())
        .args([
            "--load",
            "demo.pyisession",
            "-r",
            "json",
            "-o",
            "converted.json",
        ])
        .output();
    assert_status(&converted, 0);
    let again = pyinstrument_in(dir.path())
        .args(["--load", "converted.json", "--show-all"])
        .output();
    assert_status(&again, 0);
    assert_eq!(again.stdout_text(), text);
}
