//! The IPython / Jupyter magic (`%load_ext pyinstrument`, `%pyinstrument`,
//! `%%pyinstrument`), in a real notebook executed headless by a real
//! kernel: tests/python/notebook_checks.py, once with the kernel in plain
//! python (the package installed the README's way) and once inside the
//! installed runner (`pyinstrument -m ipykernel_launcher`, the package it
//! embeds).
//!
//! It runs with `PYINSTRUMENT_JUPYTER_TESTS` set to Python versions ("3.6
//! 3.11 3.13"; ci/test.sh sets it on its 3.11 run): for each, the
//! installed-package suite's virtualenv gets ipykernel, nbclient and
//! nbformat (ci/jupyter_env.sh, cached, idempotent), and builds with cargo
//! into `PYINSTRUMENT_SUITE_TARGET_DIR` (default `target-pyshim/`), shared
//! with that suite. Versions Jupyter's packages do not support (2.7) are
//! skipped, and said.

#[path = "support/harness/mod.rs"]
mod harness;

use harness::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TEST: &str = "notebook_when_asked";

/// Runs `command` to completion, killing it after `limit`.
fn run_with_limit(mut command: Command, limit: Duration, what: &str) -> std::process::ExitStatus {
    let mut child = command
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {what}: {e}"));
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            return status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish in {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn notebook_when_asked() {
    let Some(versions) = std::env::var_os("PYINSTRUMENT_JUPYTER_TESTS") else {
        skip_test(
            TEST,
            "set PYINSTRUMENT_JUPYTER_TESTS=\"3.11 ...\" to execute the notebook checks (ci/test.sh does on its 3.11 run)",
        );
        return;
    };
    let versions = versions.to_string_lossy().into_owned();
    let target = std::env::var_os("PYINSTRUMENT_SUITE_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| crate_dir().join("target-pyshim"));
    let mut failures = Vec::new();
    let mut ran = 0;
    for version in versions.split_whitespace() {
        let mut setup = Command::new(crate_dir().join("ci").join("jupyter_env.sh"));
        setup
            .arg(version)
            .current_dir(crate_dir())
            .env("CARGO_TARGET_DIR", &target)
            .env_remove("VIRTUAL_ENV")
            .env_remove("PYTHONPATH")
            .stdout(Stdio::piped());
        let output = setup
            .stdin(Stdio::null())
            .output()
            .expect("run ci/jupyter_env.sh");
        match output.status.code() {
            Some(0) => {}
            Some(3) => {
                skip_part(
                    TEST,
                    &format!("Python {version}: Jupyter's packages (nbclient) need Python 3.6+"),
                );
                continue;
            }
            _ => {
                failures.push(format!("{version}: ci/jupyter_env.sh failed (see above)"));
                continue;
            }
        }
        let line = String::from_utf8_lossy(&output.stdout);
        let python = line
            .trim()
            .rsplit(' ')
            .next()
            .unwrap_or_default()
            .to_string();
        // Checks the script cannot make on this version, one per line.
        let skips = TempDir::new("notebook-skips");
        let skip_file = skips.join("skipped.txt");
        let mut checks = Command::new(&python);
        checks
            .env("PYINSTRUMENT_NOTEBOOK_SKIPS", &skip_file)
            .arg(
                crate_dir()
                    .join("tests")
                    .join("python")
                    .join("notebook_checks.py"),
            )
            .current_dir(crate_dir())
            .env_remove("VIRTUAL_ENV")
            .env_remove("PYTHONPATH");
        let status = run_with_limit(
            checks,
            Duration::from_secs(600),
            &format!("the notebook checks on Python {version}"),
        );
        ran += 1;
        for reason in std::fs::read_to_string(&skip_file)
            .unwrap_or_default()
            .lines()
        {
            skip_part(TEST, &format!("Python {version}, {reason}"));
        }
        if !status.success() {
            failures.push(format!(
                "{version}: tests/python/notebook_checks.py failed ({status:?}; see above)"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    if ran == 0 {
        skip_test(
            TEST,
            &format!("no version of PYINSTRUMENT_JUPYTER_TESTS=\"{versions}\" can run Jupyter"),
        );
    }
}
