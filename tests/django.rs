//! The Python side: the `Profiler` API and the Django middleware.
//!
//! - Always: the API checks (tests/python/api_checks.py) inside this build's
//!   runner, which serves the package with nothing installed.
//! - When the build python's Django virtualenv exists (`ci/django_env.sh
//!   X.Y` makes `.venvs/django-pyX.Y`; Django 1.11 on 2.7): the Django
//!   test-client tests of tests/django_project, inside this build's runner.
//! - With `PYINSTRUMENT_DJANGO_TESTS` set (to Python versions like
//!   "2.7 3.6 3.11", or "all"): the whole suite, tests/python/run_suite.sh, which
//!   installs the package the README's way into a virtualenv per version and
//!   runs the API and Django checks (test client and a live runserver) in
//!   plain python and inside the installed runner. It builds with cargo into
//!   `PYINSTRUMENT_SUITE_TARGET_DIR` (default `target-pyshim/`), not into the
//!   target directory `cargo test` holds locked.

#[path = "support/harness/mod.rs"]
mod harness;

use harness::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn api_inside_the_runner() {
    let out = Run::new(pyinstrument(), &crate_dir())
        .args(["-o", "/dev/null", "tests/python/api_checks.py"])
        .output();
    assert!(
        out.status.success() && out.stdout_text().contains("API OK"),
        "{}",
        out.describe()
    );
}

#[test]
fn django_test_client_inside_the_runner() {
    let (major, minor) = python_version();
    let venv = crate_dir()
        .join(".venvs")
        .join(format!("django-py{major}.{minor}"));
    if !venv.join("bin").join("python").exists() {
        skip_test(
            "django_test_client_inside_the_runner",
            &format!(
                "no {} (make it with `ci/django_env.sh {major}.{minor}`)",
                venv.display()
            ),
        );
        return;
    }
    let venv_text = venv.to_string_lossy().into_owned();
    let out = Run::new(
        pyinstrument(),
        &crate_dir().join("tests").join("django_project"),
    )
    .env("VIRTUAL_ENV", Some(&venv_text))
    .args(["-o", "/dev/null", "manage.py", "test", "testproject"])
    .output();
    let stderr = out.stderr_text();
    assert!(
        out.status.success() && stderr.lines().any(|line| line.starts_with("OK")),
        "{}",
        out.describe()
    );
}

/// Issue 13's bar: the default report of the Django template workload
/// fits on one screen (under 25 lines, header included), names the user's
/// `main` and where it entered Django (`Template.render`; plain `render`
/// before 3.11, which has no qualified names), and collapses the rest.
#[test]
fn django_workload_report_fits_one_screen() {
    let (major, minor) = python_version();
    if major < 3 {
        skip_test(
            "django_workload_report_fits_one_screen",
            "bench/workloads/django_render.py is a Python 3 program (time.perf_counter)",
        );
        return;
    }
    let venv = crate_dir()
        .join(".venvs")
        .join(format!("django-py{major}.{minor}"));
    if !venv.join("bin").join("python").exists() {
        skip_test(
            "django_workload_report_fits_one_screen",
            &format!(
                "no {} (make it with `ci/django_env.sh {major}.{minor}`)",
                venv.display()
            ),
        );
        return;
    }
    let venv_text = venv.to_string_lossy().into_owned();
    let dir = TempDir::new("django-report");
    let report_path = dir.join("report.txt");
    let out = Run::new(pyinstrument(), &crate_dir())
        .env("VIRTUAL_ENV", Some(&venv_text))
        .arg("-o")
        .arg(&report_path)
        .args(["bench/workloads/django_render.py", "300"])
        .output();
    assert!(out.status.success(), "{}", out.describe());
    let report = std::fs::read_to_string(&report_path).expect("report written");
    let lines: Vec<&str> = report.lines().collect();
    assert!(lines.len() < 25, "{} lines:\n{report}", lines.len());
    let entry = if (major, minor) >= (3, 11) {
        "Template.render  django/template/backends/django.py:"
    } else {
        "render  django/template/backends/django.py:"
    };
    // Before 3.9 the script's code carries its path as given on the command
    // line (bench/workloads/django_render.py), since then an absolute one,
    // which the report shortens against sys.path[0] (django_render.py).
    let main = lines
        .iter()
        .position(|l| l.contains(" main  ") && l.contains("django_render.py:58"))
        .unwrap_or_else(|| panic!("no main:\n{report}"));
    let render = lines
        .iter()
        .position(|l| l.contains(entry))
        .unwrap_or_else(|| panic!("no {entry}:\n{report}"));
    assert!(render > main, "{report}");
    assert!(
        lines[render + 1].contains("frames hidden]") && lines[render + 1].contains("django"),
        "Django's frames under {entry} should be collapsed:\n{report}"
    );
}

#[test]
fn python_suite_when_asked() {
    let Some(versions) = std::env::var_os("PYINSTRUMENT_DJANGO_TESTS") else {
        skip_test(
            "python_suite_when_asked",
            "set PYINSTRUMENT_DJANGO_TESTS=\"3.6 3.11 ...\" (or \"all\") to run tests/python/run_suite.sh",
        );
        return;
    };
    let versions = versions.to_string_lossy().into_owned();
    let versions: Vec<&str> = versions
        .split_whitespace()
        .filter(|v| *v != "all")
        .collect();
    let target = std::env::var_os("PYINSTRUMENT_SUITE_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| crate_dir().join("target-pyshim"));
    let mut child = Command::new(
        crate_dir()
            .join("tests")
            .join("python")
            .join("run_suite.sh"),
    )
    .args(&versions)
    .current_dir(crate_dir())
    .env("CARGO_TARGET_DIR", &target)
    .env_remove("VIRTUAL_ENV")
    .env_remove("PYTHONPATH")
    .stdin(Stdio::null())
    .spawn()
    .expect("start tests/python/run_suite.sh");
    // Each step of the suite has its own time limit; this one only guards
    // against the suite itself hanging.
    let limit = Duration::from_secs(3 * 3600);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the suite") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("tests/python/run_suite.sh did not finish in {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        status.success(),
        "tests/python/run_suite.sh failed: {status:?} (see its output above)"
    );
}
