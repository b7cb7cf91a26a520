//! A test that cannot run here says so, and is counted as skipped, never as
//! passed. The test harness has no runtime skip, so a skipped test returns
//! (and cargo reports it as passed); `ci/test.sh` sets
//! `PYINSTRUMENT_SKIP_LOG` to a file where each skip is written as a line,
//! and moves every whole-test skip from its passed count to its skipped
//! count. A part of a test skipped while the rest ran is listed, not moved.

use std::io::Write;

/// The whole test `test` does not apply here, for `reason`: call, then
/// return from the test.
pub fn skip_test(test: &str, reason: &str) {
    record("test", test, reason);
}

/// Part of test `test` does not apply here; the rest of it runs.
pub fn skip_part(test: &str, reason: &str) {
    record("part", test, reason);
}

fn record(kind: &str, test: &str, reason: &str) {
    eprintln!("SKIPPED {test}: {reason}");
    let Some(path) = std::env::var_os("PYINSTRUMENT_SKIP_LOG") else {
        return;
    };
    let line = format!("{kind} {test}: {}\n", reason.replace('\n', " "));
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| file.write_all(line.as_bytes()));
    if let Err(error) = written {
        panic!("cannot record the skip in {path:?}: {error}");
    }
}
