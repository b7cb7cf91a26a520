//! The WSGI and ASGI middlewares (pyshim/pyinstrument/wsgi.py, asgi.py)
//! with real frameworks, inside this build's runner (which serves the
//! package with nothing installed), using the build python's Django
//! virtualenv, where `ci/django_env.sh X.Y` also installs the frameworks:
//! Flask and waitress (Flask 1.1 and waitress 1.4 on 2.7), FastAPI, uvicorn
//! and httpx on 3.6+ (Starlette instead of FastAPI on 3.15).
//!
//! - Always: Flask's and FastAPI's test clients, and ASGI calls made by
//!   hand on one event loop (tests/python/web_checks.py).
//! - With `PYINSTRUMENT_WEB_LIVE` set (ci/test.sh sets it for its first
//!   version; the installed-package suite, tests/python/run_suite.sh, runs
//!   the same servers in plain python on its versions): waitress and
//!   uvicorn serving the apps inside the runner, under 20 requests from 4
//!   client threads (tests/python/web_live.py).
//!
//! The scripts print `SKIPPED <part>: <reason>` for a part that cannot run
//! here (ASGI on Python 2); those are recorded as skipped parts.

#[path = "support/harness/mod.rs"]
mod harness;

use harness::*;
use std::path::PathBuf;

/// The build python's virtualenv with the web frameworks, or why there is
/// none.
fn web_venv() -> Result<PathBuf, String> {
    let (major, minor) = python_version();
    let venv = crate_dir()
        .join(".venvs")
        .join(format!("django-py{major}.{minor}"));
    let python = venv.join("bin").join("python");
    if !python.exists() {
        return Err(format!(
            "no {} (make it with `ci/django_env.sh {major}.{minor}`)",
            venv.display()
        ));
    }
    let out = Run::new(&python, &crate_dir())
        .args(["-c", "import flask, waitress"])
        .output();
    if !out.status.success() {
        return Err(format!(
            "no Flask or waitress in {} (`ci/django_env.sh {major}.{minor}` installs them): {}",
            venv.display(),
            out.stderr_text().lines().last().unwrap_or("")
        ));
    }
    Ok(venv)
}

/// Records the parts the script said it skipped.
fn record_skipped_parts(test: &str, stdout: &str) {
    for line in stdout.lines() {
        if let Some(reason) = line.strip_prefix("SKIPPED ") {
            skip_part(test, reason);
        }
    }
}

#[test]
fn flask_and_fastapi_test_clients_inside_the_runner() {
    let test = "flask_and_fastapi_test_clients_inside_the_runner";
    let venv = match web_venv() {
        Ok(venv) => venv,
        Err(reason) => return skip_test(test, &reason),
    };
    let out = Run::new(pyinstrument(), &crate_dir())
        .env("VIRTUAL_ENV", Some(&venv.to_string_lossy()))
        .args(["-o", "/dev/null", "tests/python/web_checks.py"])
        .output();
    let stdout = out.stdout_text();
    assert!(
        out.status.success() && stdout.lines().any(|l| l == "WEB CHECKS OK"),
        "{}",
        out.describe()
    );
    record_skipped_parts(test, &stdout);
}

#[test]
fn live_servers_under_concurrent_requests() {
    let test = "live_servers_under_concurrent_requests";
    if std::env::var_os("PYINSTRUMENT_WEB_LIVE").is_none() {
        return skip_test(
            test,
            "set PYINSTRUMENT_WEB_LIVE=1 to run waitress and uvicorn inside the runner (ci/test.sh does for its first version)",
        );
    }
    let venv = match web_venv() {
        Ok(venv) => venv,
        Err(reason) => return skip_test(test, &reason),
    };
    // The client is the virtualenv's python; the servers run inside the
    // runner, which finds the frameworks through VIRTUAL_ENV.
    let out = Run::new(venv.join("bin").join("python"), &crate_dir())
        .env("VIRTUAL_ENV", Some(&venv.to_string_lossy()))
        .arg("tests/python/web_live.py")
        .arg("--runner")
        .arg(pyinstrument())
        .output();
    let stdout = out.stdout_text();
    assert!(
        out.status.success() && stdout.lines().any(|l| l == "WEB LIVE OK"),
        "{}",
        out.describe()
    );
    record_skipped_parts(test, &stdout);
}
