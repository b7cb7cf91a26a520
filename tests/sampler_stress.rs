//! Robustness of both samplers under pressure (issue 4): code objects
//! created and freed at a high rate, recursion to the recursion limit,
//! threads running generators that are thrown into and closed, an asyncio
//! gather of many tasks; sampled every 0.2 ms. The program must not notice
//! (same stdout, stderr and exit status as python, three runs in a row per
//! mode), and the report must only name functions that existed.

#[path = "support/harness/mod.rs"]
mod harness;

use harness::*;

const INTERVAL: f64 = 0.0002;
const CHURN: u64 = 3000;
const RUNS: usize = 3;
/// A run takes a few seconds; one that takes this long hangs.
const RUN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Functions stress.py defines itself.
const STRESS_FUNCTIONS: &[&str] = &[
    "<module>",
    "repeated",
    "churn",
    "dive",
    "recursion",
    "counter",
    "delegate",
    "generator_work",
    "threads_with_generators",
    "work",
    "task_leaf",
    "task",
    "gather_all",
    "run_asyncio",
];

/// The parts of stress.py: all four, or on Python 2 (no asyncio) the
/// first three.
fn all_parts() -> &'static [&'static str] {
    if is_python2() {
        &["churn", "recursion", "generators"]
    } else {
        &["churn", "recursion", "generators", "asyncio"]
    }
}

/// What is wrong with the names in a stress report (empty when nothing).
fn check_names(profile: &Profile) -> Vec<String> {
    let mut problems = Vec::new();
    for frame in &profile.frames {
        let name = frame.function.as_str();
        if frame.file.starts_with("<churn-") {
            // fN (or its lambda) from '<churn-N>', def on line N % 37 + 1.
            let n: Option<u64> = frame
                .file
                .trim_start_matches("<churn-")
                .trim_end_matches('>')
                .parse()
                .ok();
            let Some(n) = n.filter(|n| *n < CHURN) else {
                problems.push(format!("a file that never existed: {frame:?}"));
                continue;
            };
            let base = format!("f{n}");
            let lambda_names = [format!("{base}.<locals>.<lambda>"), "<lambda>".to_string()];
            if name == "<module>" {
                // The exec'd module code that defines fN: first line 1, or
                // before 3.8 the line of its first statement (the def).
                if frame.line != 1 && frame.line != n % 37 + 1 {
                    problems.push(format!(
                        "a module code with the wrong first line: {frame:?}"
                    ));
                }
            } else if name == base {
                if frame.line != n % 37 + 1 {
                    problems.push(format!("{name} with the wrong first line: {frame:?}"));
                }
            } else if !lambda_names.iter().any(|l| l == name) {
                problems.push(format!(
                    "a name that does not belong to its file: {frame:?}"
                ));
            }
            if frame.function.starts_with("<lambda>") && has_qualnames() {
                problems.push(format!(
                    "an unqualified lambda on a version with qualnames: {frame:?}"
                ));
            }
        } else if is_file(&frame.file, "stress.py") {
            // Qualified names: every part is one of stress.py's functions,
            // `<locals>`, or a comprehension/lambda (code objects of their
            // own before 3.12).
            let known = name.split('.').all(|part| {
                ["<locals>", "<listcomp>", "<genexpr>", "<lambda>"].contains(&part)
                    || STRESS_FUNCTIONS.contains(&part)
            });
            if !known {
                problems.push(format!("a function stress.py does not define: {frame:?}"));
            }
        } else if name.starts_with('f') && name[1..].parse::<u64>().is_ok() {
            problems.push(format!("a churned function outside its file: {frame:?}"));
        }
        if name.contains('\u{fffd}') || name == "???" || frame.file == "???" {
            problems.push(format!("an unreadable frame: {frame:?}"));
        }
    }
    problems
}

/// Runs stress.py (only `parts`, or all of it) `runs` times in a row under
/// `mode`; returns what went wrong, if anything.
fn stress(mode: Mode, parts: &[&str], runs: usize) -> Result<(), String> {
    let dir = TempDir::with_sampler_scripts(&format!("stress-{}", mode.name()));
    let plain = run_python(&dir, "stress.py", parts);
    if plain.code() != 0 {
        return Err(format!(
            "plain python fails the fixture: {}",
            plain.describe()
        ));
    }
    for round in 1..=runs {
        let label = format!("[{} {:?} run {round}/{runs}]", mode.name(), parts);
        let result = std::panic::catch_unwind(|| {
            run_profiled_with_timeout(&dir, mode, Some(INTERVAL), "stress.py", parts, RUN_TIMEOUT)
        });
        let (output, profile) = match result {
            Ok(done) => done,
            Err(panic) => {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                return Err(format!("{label} {message}"));
            }
        };
        if (
            output.code(),
            output.stdout.as_slice(),
            output.stderr.as_slice(),
        ) != (
            plain.code(),
            plain.stdout.as_slice(),
            plain.stderr.as_slice(),
        ) {
            return Err(format!(
                "{label} the program noticed the profiler:\n{}\npython printed {:?}",
                output.describe(),
                plain.stdout
            ));
        }
        let Some(profile) = profile else {
            return Err(format!("{label} no report:\n{}", output.describe()));
        };
        let total = profile.total_time();
        if (total - profile.duration).abs() > profile.duration * 0.01 + 0.003 {
            return Err(format!(
                "{label} stack times {total:.4} s, duration {:.4} s",
                profile.duration
            ));
        }
        if profile.sample_count < 100 {
            return Err(format!("{label} only {} samples", profile.sample_count));
        }
        let problems = check_names(&profile);
        if !problems.is_empty() {
            return Err(format!(
                "{label} impossible frames in the report:\n{}",
                problems.join("\n")
            ));
        }
        for part in all_parts()
            .iter()
            .filter(|p| parts.is_empty() || parts.contains(p))
        {
            let function = match *part {
                "generators" => "threads_with_generators",
                "asyncio" => "run_asyncio",
                other => other,
            };
            // stress.py repeats every part but the churn (`repeated`).
            let path: &[&str] = if *part == "churn" {
                &["<module>", function]
            } else {
                &["<module>", "repeated", function]
            };
            if profile.time_under("stress.py", path) <= 0.0 {
                return Err(format!(
                    "{label} {function} never sampled\n{}",
                    profile.dump("stress.py")
                ));
            }
        }
        if parts.is_empty() || parts.contains(&"churn") {
            // The churned functions run for a good part of the program.
            if !profile.frames.iter().any(|f| f.file.starts_with("<churn-")) {
                return Err(format!(
                    "{label} no churned function sampled\n{}",
                    profile.dump("stress.py")
                ));
            }
        }
        // Recursion deeper than the recorder's depth keeps the outermost
        // frames: every stack through the program's code, even the deepest,
        // starts at its <module>. (Stacks of the interpreter's own start-up
        // and shutdown code, profiled on 3.8+, start elsewhere. So do the
        // generators `delegate`/`counter` when the garbage collector closes
        // them from C code with no Python caller, as it did on 3.9 during
        // shutdown: their frames really have no caller then.)
        let finalized_generator = |f: &Frame| matches!(f.function.as_str(), "delegate" | "counter");
        for stack in &profile.stacks {
            let first = stack.frames.first();
            let in_program = stack.frames.iter().any(|f| is_file(&f.file, "stress.py"));
            let from_module =
                first.is_some_and(|f| f.function == "<module>" && is_file(&f.file, "stress.py"));
            let from_gc = stack
                .frames
                .iter()
                .all(|f| is_file(&f.file, "stress.py") && finalized_generator(f));
            if in_program && !from_module && !from_gc {
                return Err(format!(
                    "{label} a stack through stress.py that does not start at its <module>: {:?}",
                    stack.frames.iter().take(5).collect::<Vec<_>>()
                ));
            }
        }
    }
    Ok(())
}

/// The whole program, three times in a row.
fn stress_whole(mode: Mode) {
    if is_python2() {
        skip_part(
            &format!("stress_whole ({})", mode.name()),
            "the asyncio part: asyncio does not exist on Python 2.7, stress.py leaves it out",
        );
    }
    if let Err(problem) = stress(mode, &[], RUNS) {
        panic!("{problem}");
    }
}

/// Each part on its own, once, so that one part's failure does not hide
/// how the others fare.
fn stress_parts(mode: Mode) {
    if is_python2() {
        skip_part(
            &format!("stress_parts ({})", mode.name()),
            "the asyncio part: asyncio does not exist on Python 2.7; the other parts run",
        );
    }
    let failures: Vec<String> = all_parts()
        .iter()
        .filter_map(|part| stress(mode, &[part], 1).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn stress_signal_mode() {
    stress_whole(Mode::Signal);
}

#[test]
fn stress_setprofile_mode() {
    stress_whole(Mode::Setprofile);
}

#[test]
fn stress_signal_mode_each_part() {
    stress_parts(Mode::Signal);
}

#[test]
fn stress_setprofile_mode_each_part() {
    stress_parts(Mode::Setprofile);
}
