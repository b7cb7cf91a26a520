//! The runner's contract, table-driven: every case runs a fixture from
//! `tests/scripts` both as `python ARGS` and as `pyinstrument -o REPORT ARGS`
//! (same directory, same environment, same stdin) and demands identical
//! stdout, stderr and exit status, byte for byte, plus a complete report file
//! wherever the program ran.
//!
//! `python` is the interpreter the binary was built for
//! (`PYINSTRUMENT_BUILD_PYTHON`); run the suite once per Python version:
//!
//! ```text
//! for v in 3.6.15 3.8.18 3.11.7 3.13.0; do
//!   PYTHON_SYS_EXECUTABLE=/root/.pyenv/versions/$v/bin/python cargo test --test parity
//! done
//! PYTHON_SYS_EXECUTABLE=/root/.pyenv/versions/2.7.18/bin/python \
//!   cargo test --no-default-features --features python27 --test parity
//! ```
//!
//! The fixtures run on Python 2.7 and 3.x alike; a case whose subject does
//! not exist on 2.7 says so (`not_on_27`, printed as "skipped on Python 2.7:
//! <reason>") instead of running.
//!
//! Each case works in a private copy of `tests/scripts` (so programs may
//! write files and python never writes into the source tree), with a
//! normalised environment (see `harness::base_env`).

#[path = "support/harness/mod.rs"]
mod harness;

use harness::*;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, PartialEq, Debug)]
enum Report {
    /// The program ran: the report file must exist and be non-empty.
    Written,
    /// Nothing ran (a SyntaxError): no report file.
    Absent,
    /// The program ended with `os._exit()`, which ends the process at once
    /// (no atexit, no finalization): a report cannot be expected, but if
    /// there is a file it must be complete, and no temporary file may be
    /// left behind.
    Optional,
}

#[derive(Clone, Copy)]
struct Case {
    /// Directory to run in, relative to the private work directory (whose
    /// `scripts` subdirectory is the copy of `tests/scripts`).
    cwd: &'static str,
    /// The arguments after `python` and after `pyinstrument -o REPORT`;
    /// `{work}` stands for the work directory's absolute path.
    args: &'static [&'static str],
    /// More arguments after `args`, as bytes that need not be UTF-8 (with
    /// `{work}` replaced too).
    raw_args: &'static [&'static [u8]],
    /// Files copied within the work directory before the runs: (from, to),
    /// relative to it, `to` as bytes (a file name need not be UTF-8).
    copies: &'static [(&'static str, &'static [u8])],
    /// A line python's stdout must have (a sanity check of the fixture,
    /// where the case pins down what python itself does).
    python_prints: Option<&'static str>,
    stdin: &'static str,
    /// Environment changes (None removes the variable).
    env: &'static [(&'static str, Option<&'static str>)],
    /// The exit status python gives (a sanity check of the fixture);
    /// 128 + N for death by signal N.
    status: i32,
    /// Capture stdout and stderr through one pipe (`2>&1`), to compare how
    /// they interleave.
    merge_stderr: bool,
    report: Report,
    /// `-o` as given (resolved against `cwd`); None: a file in a private
    /// directory, which must hold nothing else after the run.
    outfile: Option<&'static str>,
    /// Directories to create in the work directory before the runs.
    mkdirs: &'static [&'static str],
    /// Skip (saying so) on older Pythons.
    min_python: (u32, u32),
    /// Skip (saying so) on Python 2.7, for this reason: what the case
    /// checks does not exist there. None: the case runs on 2.7 too.
    not_on_27: Option<&'static str>,
    /// Replace `0x<hex>` by `0x?` in both outputs before comparing (object
    /// addresses in "Exception ignored" messages differ between runs).
    hide_addresses: bool,
}

const CASE: Case = Case {
    cwd: "scripts",
    args: &[],
    raw_args: &[],
    copies: &[],
    python_prints: None,
    stdin: "",
    env: &[],
    status: 0,
    merge_stderr: false,
    report: Report::Written,
    outfile: None,
    mkdirs: &[],
    min_python: (0, 0),
    not_on_27: None,
    hide_addresses: false,
};

/// One `#[test]` per case, so each passes or fails on its own.
macro_rules! cases {
    ($($name:ident: $case:expr;)*) => {
        $(
            #[test]
            fn $name() {
                check(stringify!($name), $case);
            }
        )*
    };
}

cases! {
    // --- what the program sees of how it was started ---------------------
    argv: Case { args: &["facts.py", "argv", "a b", "", "--flag", "-x", "caf\u{e9}"], ..CASE };
    // Arguments that are not UTF-8 reach the program as python gives them:
    // decoded with surrogateescape on 3.x, as the bytes on 2.7.
    argv_not_utf8: Case {
        args: &["facts.py", "argv"],
        raw_args: &[b"\xff\xfe", b"caf\xe9", b"--x=\xff"],
        python_prints: Some(if cfg!(py_2_7) {
            r"argv: ['facts.py', 'argv', '\xff\xfe', 'caf\xe9', '--x=\xff']"
        } else {
            r"argv: ['facts.py', 'argv', '\udcff\udcfe', 'caf\udce9', '--x=\udcff']"
        }),
        ..CASE
    };
    module_argv_not_utf8: Case { args: &["-m", "parity_mod"], raw_args: &[b"\xff\xfe", b"-o\xe9"], ..CASE };
    script_path_not_utf8: Case {
        copies: &[("scripts/facts.py", b"scripts/f\xe4cts.py")],
        raw_args: &[b"f\xe4cts.py", b"path0", b"\xff"],
        ..CASE
    };
    script_path_not_utf8_traceback: Case {
        copies: &[("scripts/exits.py", b"scripts/\xe9xits.py")],
        raw_args: &[b"{work}/scripts/\xe9xits.py", b"raise"],
        status: 1,
        ..CASE
    };
    path0_same_dir: Case { args: &["facts.py", "path0"], ..CASE };
    path0_relative_from_other_cwd: Case { cwd: ".", args: &["scripts/facts.py", "path0"], ..CASE };
    path0_relative_dotdot: Case { cwd: "elsewhere", mkdirs: &["elsewhere"], args: &["../scripts/facts.py", "path0"], ..CASE };
    path0_absolute: Case { cwd: "elsewhere", mkdirs: &["elsewhere"], args: &["{work}/scripts/facts.py", "path0"], ..CASE };
    main_module_attributes: Case { args: &["facts.py", "main"], ..CASE };
    file_attribute_relative: Case { args: &["facts.py", "file"], ..CASE };
    file_attribute_absolute: Case { args: &["{work}/scripts/facts.py", "file"], ..CASE };
    source_of_main: Case { args: &["facts.py", "source"], ..CASE };
    warnings_relative_path: Case { args: &["facts.py", "warnings"], ..CASE };
    warnings_absolute_path: Case { args: &["{work}/scripts/facts.py", "warnings"], ..CASE };
    main_globals: Case { args: &["facts.py", "globals"], ..CASE };
    pickle_main_class: Case { args: &["facts.py", "pickle"], ..CASE };
    executable_and_prefix: Case { args: &["facts.py", "executable"], ..CASE };
    sys_path: Case { args: &["facts.py", "sys_path"], ..CASE };
    sys_flags: Case { args: &["facts.py", "flags"], ..CASE };
    orig_argv: Case {
        args: &["facts.py", "orig_argv", "x"],
        not_on_27: Some("there is no sys.orig_argv (3.10+)"),
        ..CASE
    };
    encodings_utf8_locale: Case {
        args: &["facts.py", "encoding"],
        // Python 2.7 gives a pipe no encoding whatever the locale: printing
        // non-ASCII text raises UnicodeEncodeError.
        status: if cfg!(py_2_7) { 1 } else { 0 },
        ..CASE
    };
    encodings_c_locale: Case {
        args: &["facts.py", "encoding"],
        // Python 3.6 itself cannot print the non-ASCII line in the C locale.
        status: if cfg!(any(py_2_7, py_3_6)) { 1 } else { 0 },
        env: &[("LANG", None), ("LC_ALL", Some("C"))],
        ..CASE
    };
    encodings_pythonioencoding: Case {
        args: &["facts.py", "encoding"],
        env: &[("PYTHONIOENCODING", Some("latin-1:replace"))],
        ..CASE
    };
    // The PYTHON* variables python reads at start-up must act the same.
    env_pythonwarnings: Case { args: &["facts.py", "flags"], env: &[("PYTHONWARNINGS", Some("error::DeprecationWarning"))], ..CASE };
    env_pythonoptimize: Case { args: &["facts.py", "flags"], env: &[("PYTHONOPTIMIZE", Some("1"))], ..CASE };
    env_pythonhashseed: Case { args: &["facts.py", "flags"], env: &[("PYTHONHASHSEED", Some("123"))], ..CASE };
    env_pythonnousersite: Case { args: &["facts.py", "flags"], env: &[("PYTHONNOUSERSITE", Some("1"))], ..CASE };
    env_pythonpath: Case { args: &["facts.py", "flags"], env: &[("PYTHONPATH", Some("/nonexistent/pp1:/nonexistent/pp2"))], ..CASE };
    env_pythondevmode: Case {
        args: &["facts.py", "flags"],
        env: &[("PYTHONDEVMODE", Some("1"))],
        // 3.7 has PYTHONDEVMODE, but only its command-line entry point
        // (Py_Main) reads it and sys.flags.dev_mode cannot be set from
        // outside: a documented limitation of the 3.7 runner (README).
        min_python: (3, 8),
        not_on_27: Some("there is no PYTHONDEVMODE (development mode is 3.7+)"),
        ..CASE
    };
    env_pythonutf8: Case {
        args: &["facts.py", "encoding"],
        env: &[("PYTHONUTF8", Some("1"))],
        min_python: (3, 7),
        not_on_27: Some("there is no PYTHONUTF8 (UTF-8 mode, PEP 540, is 3.7+)"),
        ..CASE
    };
    env_pythonsafepath: Case {
        args: &["facts.py", "path0"],
        env: &[("PYTHONSAFEPATH", Some("1"))],
        min_python: (3, 11),
        not_on_27: Some("there is no PYTHONSAFEPATH (3.11+)"),
        ..CASE
    };
    modules_before_first_line: Case { args: &["facts.py", "modules"], ..CASE };
    signal_handlers: Case { args: &["facts.py", "signals"], ..CASE };
    stdin_passed_through: Case { args: &["facts.py", "stdin"], stdin: "line one\nline two\n\u{e9}", ..CASE };
    environment_unchanged: Case { args: &["facts.py", "environ"], ..CASE };
    // Neither mode may leave a trace in sys.getprofile() or sys.gettrace().
    profile_and_trace_functions: Case { args: &["facts.py", "hooks"], ..CASE };
    options_after_script_belong_to_it: Case { args: &["facts.py", "argv", "--html", "-o", "x", "--help", "-m", "y"], ..CASE };

    // --- stdout / stderr bytes ---------------------------------------------
    output_non_ascii: Case { args: &["output.py", "nonascii"], ..CASE };
    output_without_trailing_newline: Case { args: &["output.py", "no_newline"], ..CASE };
    output_large: Case { args: &["output.py", "large"], ..CASE };
    output_interleaved: Case { args: &["output.py", "interleave"], merge_stderr: true, ..CASE };
    output_interleaved_unbuffered_env: Case {
        args: &["output.py", "interleave"],
        merge_stderr: true,
        env: &[("PYTHONUNBUFFERED", Some("1"))],
        ..CASE
    };
    output_interleaved_flushing: Case { args: &["output.py", "unbuffered_interleave"], merge_stderr: true, ..CASE };
    // After the program, python flushes stderr and then stdout (flush_io
    // in pythonrun.c), before printing a traceback; with both on one pipe
    // the order of the last lines shows whether the runner does the same.
    output_merged_uncaught_exception: Case {
        args: &["{work}/scripts/exits.py", "raise"],
        status: 1,
        merge_stderr: true,
        ..CASE
    };
    output_merged_exit_message: Case { args: &["exits.py", "exit_msg"], status: 1, merge_stderr: true, ..CASE };
    output_merged_atexit: Case { args: &["finalizers.py"], merge_stderr: true, ..CASE };
    output_print_to_stderr: Case { args: &["output.py", "print_file"], ..CASE };

    // --- exit statuses, tracebacks -----------------------------------------
    exit_3: Case { args: &["exits.py", "exit3"], status: 3, ..CASE };
    exit_message: Case { args: &["exits.py", "exit_msg"], status: 1, ..CASE };
    exit_none: Case { args: &["exits.py", "exit_none"], ..CASE };
    exit_status_above_255: Case { args: &["exits.py", "exit_big"], status: 5, ..CASE };
    exit_with_object: Case { args: &["exits.py", "exit_object"], status: 1, ..CASE };
    uncaught_exception: Case { args: &["exits.py", "raise"], status: 1, ..CASE };
    uncaught_exception_absolute_path: Case { args: &["{work}/scripts/exits.py", "raise"], status: 1, ..CASE };
    exception_chain: Case {
        args: &["exits_chain.py"],
        status: 1,
        not_on_27: Some("there is no exception chaining (`raise ... from` is a SyntaxError)"),
        ..CASE
    };
    exception_implicit_chain: Case { args: &["{work}/scripts/exits.py", "implicit_chain"], status: 1, ..CASE };
    keyboard_interrupt_raised: Case {
        args: &["{work}/scripts/exits.py", "keyboard_interrupt"],
        // python 3.8+ re-raises SIGINT on itself; before, exit status 1.
        status: if cfg!(any(py_2_7, py_3_6, py_3_7)) { 1 } else { 130 },
        ..CASE
    };
    recursion_error: Case { args: &["{work}/scripts/exits.py", "recursion"], status: 1, ..CASE };
    syntax_error: Case { args: &["syntax_error.py"], status: 1, report: Report::Absent, ..CASE };
    syntax_error_absolute_path: Case { args: &["{work}/scripts/syntax_error.py"], status: 1, report: Report::Absent, ..CASE };
    syntax_error_eol: Case { args: &["{work}/scripts/syntax_eol.py"], status: 1, report: Report::Absent, ..CASE };
    indentation_error: Case { args: &["{work}/scripts/indentation_error.py"], status: 1, report: Report::Absent, ..CASE };
    // Python 2.7 allows mixing tabs and spaces (a tab is 8 columns; TabError
    // only with -tt): the script runs there, consistently indented.
    tab_error: Case {
        args: &["{work}/scripts/tab_error.py"],
        status: if cfg!(py_2_7) { 0 } else { 1 },
        report: if cfg!(py_2_7) { Report::Written } else { Report::Absent },
        ..CASE
    };
    coding_cookie_latin1: Case { args: &["latin1_cookie.py"], ..CASE };
    utf8_bom: Case { args: &["bom.py"], ..CASE };
    os_exit_7: Case { args: &["exits.py", "os_exit"], status: 7, report: Report::Optional, ..CASE };
    // An exception in an atexit handler is printed ("Exception ignored in
    // atexit callback <function handler at 0x...>" on 3.11+, with an
    // address that changes from run to run) and does not change the status
    // -- except on 2.7, where atexit re-raises the last one, so that a
    // SystemExit(5) there makes the exit status 5.
    atexit_raises_systemexit: Case {
        args: &["{work}/scripts/exits.py", "atexit_systemexit"],
        status: if cfg!(py_2_7) { 5 } else { 0 },
        hide_addresses: true,
        ..CASE
    };
    atexit_raises_exception: Case { args: &["{work}/scripts/exits.py", "atexit_exception"], hide_addresses: true, ..CASE };
    exception_in_del_at_shutdown: Case { args: &["{work}/scripts/exits.py", "exception_in_del_at_exit"], hide_addresses: true, ..CASE };

    // --- shutdown ------------------------------------------------------------
    finalizers_atexit_threads: Case { args: &["finalizers.py"], ..CASE };
    threads: Case { args: &["threads.py"], ..CASE };
    fork_child_exits_normally: Case {
        args: &["fork_child.py"],
        ..CASE
    };
    multiprocessing_start_methods: Case { args: &["multiproc.py"], ..CASE };

    // --- -m --------------------------------------------------------------------
    module_package_main: Case { args: &["-m", "parity_pkg", "arg1", "--opt", "-o", "x"], ..CASE };
    module_package_main_raises: Case { args: &["-m", "parity_pkg", "--raise"], status: 1, ..CASE };
    module_package_main_exits: Case { args: &["-m", "parity_pkg", "--exit"], status: 4, ..CASE };
    module_plain: Case { args: &["-m", "parity_mod", "a", "b"], ..CASE };
    module_plain_raises: Case { args: &["-m", "parity_mod", "--raise"], status: 1, ..CASE };
    module_plain_exit_status: Case { args: &["-m", "parity_mod", "--exit", "9"], status: 9, ..CASE };
    module_in_package: Case { args: &["-m", "parity_pkg.plain", "z"], ..CASE };
    module_from_other_cwd_is_not_found: Case { cwd: ".", args: &["-m", "parity_mod"], status: 1, ..CASE };
    // python names its own executable in the message ("<python>: No module
    // named ..."); the runner gives the interpreter the same program name,
    // so the bytes are compared as they are.
    module_nonexistent: Case { args: &["-m", "nonexistent_module_xyz"], status: 1, ..CASE };
    module_nonexistent_submodule: Case { args: &["-m", "parity_pkg.nothere"], status: 1, ..CASE };
    module_stdlib: Case { args: &["-m", "json.tool"], stdin: "{\"b\": [1, 2], \"a\": \"\u{e9}\"}", ..CASE };

    // --- -c PROGRAM ------------------------------------------------------------
    command_argv_and_path0: Case {
        args: &["-c", "import sys; print(sys.argv); print(repr(sys.path[0])); print(__name__)", "a b", "-o", "--html"],
        python_prints: Some("''"),
        ..CASE
    };
    command_argv_not_utf8: Case { args: &["-c", "import sys; print(sys.argv)"], raw_args: &[b"\xff\xfe", b"-o\xe9"], ..CASE };
    command_main_globals: Case {
        args: &["-c", "import sys; g = dict(globals()); print(sorted(k for k in g)); print(g.get('__loader__')); print(g.get('__spec__')); print(g.get('__file__', 'no file'))"],
        ..CASE
    };
    command_multiline: Case {
        args: &["-c", "def f(n):\n    return sum(range(n))\nfor i in range(3):\n    print(f(10 ** 5 * i))\n"],
        ..CASE
    };
    command_raises: Case { args: &["-c", "def f():\n    raise KeyError('in -c')\nf()"], status: 1, ..CASE };
    command_exits: Case { args: &["-c", "import sys; sys.exit(6)"], status: 6, ..CASE };
    command_syntax_error: Case { args: &["-c", "x = (1,"], status: 1, report: Report::Absent, ..CASE };
    command_empty: Case { args: &["-c", ""], ..CASE };
    command_reads_stdin: Case { args: &["-c", "import sys; print(sys.stdin.read().upper())"], stdin: "line one\n", ..CASE };

    // --- a directory (or zip file) with __main__.py ---------------------------
    directory_with_main: Case { args: &["dir_main", "p", "q"], ..CASE };
    directory_with_main_raises: Case { args: &["dir_main", "--raise"], status: 1, ..CASE };
    directory_with_main_absolute: Case { cwd: ".", args: &["{work}/scripts/dir_main"], ..CASE };

    // --- -o --------------------------------------------------------------------
    outfile_relative_while_program_chdirs: Case {
        args: &["chdir_away.py", "{work}/elsewhere"],
        mkdirs: &["elsewhere"],
        outfile: Some("report.txt"),
        ..CASE
    };
    outfile_relative_subdir: Case {
        cwd: ".",
        args: &["scripts/chdir_away.py", "{work}/elsewhere"],
        mkdirs: &["elsewhere", "reports"],
        outfile: Some("reports/r.json"),
        ..CASE
    };
}

/// Runs one case under python and under pyinstrument and compares.
fn check(name: &str, case: Case) {
    let version = python_version();
    if version.0 < 3 {
        if let Some(reason) = case.not_on_27 {
            skip_test(name, &format!("not on Python 2.7: {reason}"));
            return;
        }
    }
    if version < case.min_python {
        skip_test(
            name,
            &format!(
                "needs Python {}.{}, this build is {}.{}",
                case.min_python.0, case.min_python.1, version.0, version.1
            ),
        );
        return;
    }
    let work = TempDir::new(name);
    copy_scripts(&work);
    for dir in case.mkdirs {
        std::fs::create_dir_all(work.join(dir)).expect("mkdir");
    }
    for (from, to) in case.copies {
        std::fs::copy(work.join(from), work.join(OsStr::from_bytes(to))).expect("copy");
    }
    let work_str = work.path().to_str().expect("utf-8 temp path").to_string();
    let cwd = work.join(case.cwd);
    let mut args: Vec<OsString> = case
        .args
        .iter()
        .map(|a| a.replace("{work}", &work_str).into())
        .collect();
    args.extend(
        case.raw_args
            .iter()
            .map(|a| OsString::from_vec(replace_bytes(a, b"{work}", work_str.as_bytes()))),
    );

    let prepare = |mut run: Run| {
        for (key, value) in case.env {
            run = run.env(key, *value);
        }
        run.stdin = case.stdin.as_bytes().to_vec();
        run.merge_stderr = case.merge_stderr;
        run
    };
    let mut expected = prepare(Run::new(python(), &cwd).args(&args)).output();
    if case.status >= 0 {
        assert_eq!(
            expected.code(),
            case.status,
            "case {name}: the fixture misbehaves under python itself:\n{}",
            expected.describe()
        );
    }
    if let Some(line) = case.python_prints {
        assert!(
            expected.stdout_text().lines().any(|l| l == line),
            "case {name}: python itself does not print {line:?}:\n{}",
            expected.describe()
        );
    }
    if case.hide_addresses {
        expected.stdout = hide_addresses(&expected.stdout);
        expected.stderr = hide_addresses(&expected.stderr);
    }

    // Both sampling modes must be invisible to the program.
    let mut failures = Vec::new();
    for (mode, options) in [
        ("signal mode", &[][..]),
        ("--setprofile", &["--setprofile"][..]),
    ] {
        let reports = TempDir::new(&format!("{name}-report"));
        let (outfile_arg, report_path) = match case.outfile {
            None => {
                let path = reports.join("report.txt");
                (path.to_str().expect("utf-8").to_string(), path)
            }
            Some(given) => (given.to_string(), cwd.join(given)),
        };
        assert!(
            !report_path.exists(),
            "case {name}: {} exists before pyinstrument ran",
            report_path.display()
        );
        let mut actual = prepare(
            Run::new(pyinstrument(), &cwd)
                .args(options)
                .arg("-o")
                .arg(&outfile_arg)
                .args(&args),
        )
        .output();
        if case.hide_addresses {
            actual.stdout = hide_addresses(&actual.stdout);
            actual.stderr = hide_addresses(&actual.stderr);
        }

        let mut problems = Vec::new();
        if expected.status.code() != actual.status.code()
            || expected.status.signal() != actual.status.signal()
        {
            problems.push(format!(
                "exit: python {}, pyinstrument {}",
                describe_status(&expected.status),
                describe_status(&actual.status)
            ));
        }
        if let Some(diff) = difference(&expected.stdout, &actual.stdout) {
            problems.push(format!("stdout differs: {diff}"));
        }
        if let Some(diff) = difference(&expected.stderr, &actual.stderr) {
            problems.push(format!("stderr differs: {diff}"));
        }
        problems.extend(check_report(
            &report_path,
            case.report,
            case.outfile.is_none(),
        ));
        if let Some(elsewhere) = case.mkdirs.first() {
            let stray = work
                .join(elsewhere)
                .join(case.outfile.unwrap_or("report.txt"));
            if stray.exists() && stray != report_path {
                problems.push(format!(
                    "a report landed in the program's directory: {}",
                    stray.display()
                ));
            }
            let _ = std::fs::remove_file(&stray);
        }
        if case.outfile.is_some() {
            let _ = std::fs::remove_file(&report_path);
        }

        if !problems.is_empty() {
            failures.push(format!(
                "[{mode}] pyinstrument does not run the program like python does:\n  - {}\n--- pyinstrument {mode}: {}",
                problems.join("\n  - "),
                actual.describe()
            ));
        }
    }
    if !failures.is_empty() {
        panic!(
            "case {name} (Python {}.{}):\n{}\n--- python: {}",
            version.0,
            version.1,
            failures.join("\n\n"),
            expected.describe()
        );
    }
}

/// `bytes` with every `from` replaced by `to`.
fn replace_bytes(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// The report file's state after the run; for a private report directory,
/// also that nothing else (temporary files) was left there.
fn check_report(path: &Path, want: Report, private_dir: bool) -> Vec<String> {
    let mut problems = Vec::new();
    match want {
        Report::Written => match std::fs::metadata(path) {
            Ok(meta) if meta.len() > 0 => {}
            Ok(_) => problems.push(format!("the report {} is empty", path.display())),
            Err(e) => problems.push(format!("no report at {}: {e}", path.display())),
        },
        Report::Optional => {
            if path.exists() && std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) == 0 {
                problems.push(format!("the report {} is empty", path.display()));
            }
        }
        Report::Absent => {
            if path.exists() {
                problems.push(format!(
                    "a report was written to {} though nothing ran",
                    path.display()
                ));
            }
        }
    }
    let dir: PathBuf = path.parent().expect("report dir").to_path_buf();
    let names = list_dir(&dir);
    let report_name = path.file_name().unwrap().to_string_lossy().into_owned();
    let stray: Vec<&String> = names
        .iter()
        .filter(|n| {
            **n != report_name && (private_dir || n.contains("pyinstrument") || n.ends_with(".tmp"))
        })
        .collect();
    if !stray.is_empty() {
        problems.push(format!(
            "files left next to the report in {}: {:?}",
            dir.display(),
            stray
        ));
    }
    problems
}

/// None if equal; else where the bytes first differ, line by line.
fn difference(expected: &[u8], actual: &[u8]) -> Option<String> {
    if expected == actual {
        return None;
    }
    let e_lines: Vec<&[u8]> = expected.split_inclusive(|b| *b == b'\n').collect();
    let a_lines: Vec<&[u8]> = actual.split_inclusive(|b| *b == b'\n').collect();
    let index = e_lines
        .iter()
        .zip(a_lines.iter())
        .position(|(e, a)| e != a)
        .unwrap_or_else(|| e_lines.len().min(a_lines.len()));
    let show = |lines: &[&[u8]]| {
        lines
            .get(index)
            .map(|l| format!("{:?}", String::from_utf8_lossy(l)))
            .unwrap_or_else(|| "<end>".to_string())
    };
    Some(format!(
        "{} vs {} bytes; first difference at line {}:\n      python:       {}\n      pyinstrument: {}",
        expected.len(),
        actual.len(),
        index + 1,
        show(&e_lines),
        show(&a_lines)
    ))
}

/// `0x7f12ab...` -> `0x?`.
fn hide_addresses(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'0'
            && bytes.get(i + 1) == Some(&b'x')
            && bytes.get(i + 2).is_some_and(|b| b.is_ascii_hexdigit())
        {
            out.extend_from_slice(b"0x?");
            i += 2;
            while i < bytes.len() && bytes[i].is_ascii_hexdigit() {
                i += 1;
            }
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

// --- cases that need more than "run twice and compare" -----------------------

/// Ctrl-C: SIGINT once the program printed "ready". Python 3.8+ dies of
/// SIGINT after printing the KeyboardInterrupt traceback; earlier versions
/// exit 1. The traceback's inner lines depend on where the sleep loop was
/// interrupted, so only the last line is compared; the report must be
/// written all the same.
#[test]
fn ctrl_c() {
    ctrl_c_in_mode(&[]);
}

#[test]
fn ctrl_c_setprofile() {
    ctrl_c_in_mode(&["--setprofile"]);
}

fn ctrl_c_in_mode(options: &[&str]) {
    let work = TempDir::new("ctrl_c");
    let scripts = copy_scripts(&work);
    let reports = TempDir::new("ctrl_c-report");
    let report = reports.join("report.txt");

    let interrupt = |run: Run| {
        let mut running = run.spawn();
        running.wait_for_stdout("ready\n");
        running.signal(libc::SIGINT);
        running.wait()
    };
    let expected = interrupt(Run::new(python(), &scripts).arg("sigint.py"));
    let actual = interrupt(
        Run::new(pyinstrument(), &scripts)
            .args(options)
            .arg("-o")
            .arg(&report)
            .arg("sigint.py"),
    );

    let want_signal = if python_version() >= (3, 8) {
        Some(libc::SIGINT)
    } else {
        None
    };
    assert_eq!(
        expected.status.signal(),
        want_signal,
        "python itself: {}",
        expected.describe()
    );
    let last_line = |o: &Output| {
        o.stderr_text()
            .trim_end()
            .lines()
            .last()
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(
        last_line(&expected),
        "KeyboardInterrupt",
        "python itself: {}",
        expected.describe()
    );

    let mut problems = Vec::new();
    if expected.status.code() != actual.status.code()
        || expected.status.signal() != actual.status.signal()
    {
        problems.push(format!(
            "exit: python {}, pyinstrument {}",
            describe_status(&expected.status),
            describe_status(&actual.status)
        ));
    }
    if expected.stdout != actual.stdout {
        problems.push(format!(
            "stdout: python {:?}, pyinstrument {:?}",
            expected.stdout_text(),
            actual.stdout_text()
        ));
    }
    if last_line(&actual) != "KeyboardInterrupt" {
        problems.push(format!(
            "last stderr line is {:?}, not 'KeyboardInterrupt'",
            last_line(&actual)
        ));
    }
    if !actual
        .stderr_text()
        .starts_with("Traceback (most recent call last):\n")
    {
        problems.push("stderr does not start with python's traceback header".to_string());
    }
    // Our own code is compiled as "<pyinstrument>"; the temporary
    // directories of this test contain the word too, harmlessly.
    if actual.stderr_text().contains("<pyinstrument>") {
        problems.push("the traceback mentions pyinstrument".to_string());
    }
    problems.extend(check_report(&report, Report::Written, true));
    assert!(
        problems.is_empty(),
        "Ctrl-C under pyinstrument {options:?} differs from python:\n  - {}\n--- python: {}\n--- pyinstrument: {}",
        problems.join("\n  - "),
        expected.describe(),
        actual.describe()
    );
}

/// A virtualenv made by `python -m venv --without-pip` (fast, offline) with a
/// package only it has, used three ways; each is compared with running the
/// virtualenv's `bin/python` directly (what `python` means once activated).
/// Python 2.7 has no `venv` module: there the `virtualenv` package is used
/// if that python has it, and the cases are skipped (saying so) otherwise.
mod virtualenv {
    use super::*;

    struct Venv {
        _dir: TempDir,
        root: PathBuf,
        scripts: PathBuf,
    }

    /// The arguments after `python` that make a virtualenv without pip, or
    /// why there is no way to (Python 2.7 without `virtualenv` installed).
    fn creator() -> Result<&'static [&'static str], &'static str> {
        if python_version() >= (3, 3) {
            return Ok(&["-m", "venv", "--without-pip"]);
        }
        let probe = Run::new(python(), &std::env::temp_dir())
            .args(["-c", "import virtualenv"])
            .output();
        if probe.status.success() {
            Ok(&[
                "-m",
                "virtualenv",
                "--no-pip",
                "--no-setuptools",
                "--no-wheel",
            ])
        } else {
            Err("there is no venv module, and this python has no virtualenv package to make one with \
                 (pip install virtualenv into it to run these cases)")
        }
    }

    fn make_venv(label: &str, how: &[&str]) -> Venv {
        let dir = TempDir::new(label);
        let scripts = copy_scripts(&dir);
        let root = dir.join("venv");
        let made = Run::new(python(), dir.path()).args(how).arg(&root).output();
        assert!(
            made.status.success(),
            "cannot create a virtualenv: {}",
            made.describe()
        );
        let site = Run::new(root.join("bin").join("python"), dir.path())
            .args([
                "-c",
                "import sysconfig; print(sysconfig.get_paths()['purelib'])",
            ])
            .output();
        assert!(site.status.success(), "{}", site.describe());
        let site = PathBuf::from(site.stdout_text().trim());
        let package = site.join("venvonly_pkg");
        std::fs::create_dir_all(&package).expect("mkdir package");
        std::fs::write(
            package.join("__init__.py"),
            "WHERE = 'inside the virtualenv'\n",
        )
        .expect("write package");
        Venv {
            _dir: dir,
            root,
            scripts,
        }
    }

    fn path_with_venv_first(venv: &Venv) -> String {
        let base = base_env();
        let path = base
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let mut dirs = vec![venv.root.join("bin")];
        dirs.extend(std::env::split_paths(&path));
        std::env::join_paths(dirs)
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }

    fn compare(label: &str, virtual_env: bool, on_path: bool) {
        let how = match creator() {
            Ok(how) => how,
            Err(reason) => {
                skip_test(&format!("virtualenv::{label}"), reason);
                return;
            }
        };
        let venv = make_venv(label, how);
        let reports = TempDir::new(&format!("{label}-report"));
        let report = reports.join("report.txt");
        let venv_str = venv.root.to_str().unwrap().to_string();
        let path = path_with_venv_first(&venv);
        let configure = |mut run: Run| {
            if virtual_env {
                run = run.env("VIRTUAL_ENV", Some(&venv_str));
            }
            if on_path {
                run = run.env("PATH", Some(&path));
            }
            run
        };
        let expected = configure(
            Run::new(venv.root.join("bin").join("python"), &venv.scripts).arg("venv_facts.py"),
        )
        .output();
        assert!(
            expected.status.success(),
            "the virtualenv's python itself: {}",
            expected.describe()
        );
        let actual = configure(
            Run::new(pyinstrument(), &venv.scripts)
                .arg("-o")
                .arg(&report)
                .arg("venv_facts.py"),
        )
        .output();
        let mut problems = Vec::new();
        if expected.status.code() != actual.status.code() {
            problems.push(format!(
                "exit: python {}, pyinstrument {}",
                describe_status(&expected.status),
                describe_status(&actual.status)
            ));
        }
        if let Some(diff) = difference(&expected.stdout, &actual.stdout) {
            problems.push(format!("stdout differs: {diff}"));
        }
        if let Some(diff) = difference(&expected.stderr, &actual.stderr) {
            problems.push(format!("stderr differs: {diff}"));
        }
        problems.extend(check_report(&report, Report::Written, true));
        assert!(
            problems.is_empty(),
            "{label}: pyinstrument in a virtualenv differs from the virtualenv's python:\n  - {}\n--- python: {}\n--- pyinstrument: {}",
            problems.join("\n  - "),
            expected.describe(),
            actual.describe()
        );
    }

    #[test]
    fn activated() {
        compare("venv_activated", true, true);
    }

    #[test]
    fn virtual_env_variable_only() {
        compare("venv_variable", true, false);
    }

    #[test]
    fn venv_python_first_on_path_only() {
        compare("venv_path", false, true);
    }
}

/// `-o` into a directory that does not exist: an error before the program
/// runs (its side effect, a marker file, must not happen).
#[test]
fn outfile_in_missing_directory_fails_before_running() {
    outfile_error("/nonexistent/dir/r.txt", "/nonexistent/dir/r.txt");
}

/// `-o` naming a directory: an error before the program runs.
#[test]
fn outfile_is_a_directory_fails_before_running() {
    outfile_error("{work}", "");
}

/// `-o` through a regular file (ENOTDIR).
#[test]
fn outfile_under_a_file_fails_before_running() {
    outfile_error("{work}/scripts/marker.py/r.txt", "marker.py/r.txt");
}

/// `-o` naming a file that is not UTF-8, in each spelling: the report is
/// written under exactly that name, and nothing else is left beside it.
#[test]
fn outfile_not_utf8_is_written_where_asked() {
    let work = TempDir::new("outfile_not_utf8");
    let scripts = copy_scripts(&work);
    let reports = TempDir::new("outfile_not_utf8-report");
    let name = OsStr::from_bytes(b"r\xe9port.txt");
    let path = reports.join(name);
    let mut spelled = OsString::from("--outfile=");
    spelled.push(&path);
    let mut clustered = OsString::from("-o");
    clustered.push(&path);
    for options in [
        vec![OsString::from("-o"), path.clone().into()],
        vec![spelled],
        vec![clustered],
    ] {
        let out = Run::new(pyinstrument(), &scripts)
            .args(&options)
            .args(["facts.py", "argv"])
            .output();
        assert_eq!(out.code(), 0, "{options:?}: {}", out.describe());
        let written: Vec<OsString> = std::fs::read_dir(reports.path())
            .expect("read the report directory")
            .map(|entry| entry.expect("entry").file_name())
            .collect();
        assert_eq!(written, [name], "{options:?}: {}", out.describe());
        assert!(
            std::fs::read_to_string(&path).is_ok_and(|r| r.contains("Duration:")),
            "{options:?}: not a text report"
        );
        std::fs::remove_file(&path).expect("remove the report");
    }
}

fn outfile_error(outfile: &str, mention: &str) {
    let work = TempDir::new("outfile_error");
    let scripts = copy_scripts(&work);
    let outfile = outfile.replace("{work}", work.path().to_str().unwrap());
    let marker = work.join("marker-was-written");
    let before = list_dir(work.path());
    let out = Run::new(pyinstrument(), &scripts)
        .arg("-o")
        .arg(&outfile)
        .arg("marker.py")
        .arg(&marker)
        .output();
    assert!(
        !marker.exists(),
        "the program ran although -o {outfile} cannot be written: {}",
        out.describe()
    );
    assert_ne!(out.code(), 0, "-o {outfile}: {}", out.describe());
    let stderr = out.stderr_text();
    assert!(
        stderr.starts_with("pyinstrument: ") || stderr.contains("\npyinstrument: "),
        "-o {outfile}: {}",
        out.describe()
    );
    assert!(
        stderr.contains(mention),
        "-o {outfile}: the message should name the file: {}",
        out.describe()
    );
    assert!(out.stdout.is_empty(), "-o {outfile}: {}", out.describe());
    assert_eq!(
        before,
        list_dir(work.path()),
        "-o {outfile}: files appeared in {}",
        work.path().display()
    );
}

/// A missing script: exit 2 and "can't open file", like python (whose
/// message starts with its own path instead of pyinstrument's); no report.
#[test]
fn missing_script() {
    unopenable_script("does_not_exist.py", "[Errno 2]");
}

/// A path through a regular file: ENOTDIR. (An unreadable file cannot be
/// tested with chmod: the tests run as root, which reads anything.)
#[test]
fn script_path_through_a_file() {
    unopenable_script("marker.py/x.py", "[Errno 20]");
}

fn unopenable_script(script: &str, errno: &str) {
    let work = TempDir::new("unopenable");
    let scripts = copy_scripts(&work);
    let reports = TempDir::new("unopenable-report");
    let report = reports.join("report.txt");
    let expected = Run::new(python(), &scripts).arg(script).arg("x").output();
    let actual = Run::new(pyinstrument(), &scripts)
        .arg("-o")
        .arg(&report)
        .arg(script)
        .arg("x")
        .output();
    assert_eq!(expected.code(), 2, "python itself: {}", expected.describe());
    assert!(
        expected.stderr_text().contains("can't open file"),
        "python itself: {}",
        expected.describe()
    );
    assert_eq!(actual.code(), 2, "{}", actual.describe());
    let stderr = actual.stderr_text();
    assert!(
        stderr.contains("can't open file") && stderr.contains(errno) && stderr.contains(script),
        "expected a message like python's ({:?}), got {}",
        expected.stderr_text(),
        actual.describe()
    );
    assert!(actual.stdout.is_empty(), "{}", actual.describe());
    assert!(!report.exists(), "a report was written though nothing ran");
    assert!(
        list_dir(reports.path()).is_empty(),
        "files left in the report directory"
    );
}

/// `os.fork()` with a child that leaves through `sys.exit` (so it runs the
/// interpreter's shutdown): with the report on stdout, the program's output
/// must be python's, followed by one report, the parent's. A report from
/// the child would land in the middle of the program's output.
#[test]
fn forked_child_prints_no_report() {
    let work = TempDir::new("fork_stdout");
    let scripts = copy_scripts(&work);
    let expected = Run::new(python(), &scripts).arg("fork_child.py").output();
    assert_eq!(expected.code(), 0, "python itself: {}", expected.describe());
    let actual = Run::new(pyinstrument(), &scripts)
        .arg("fork_child.py")
        .output();
    assert_eq!(actual.code(), 0, "{}", actual.describe());
    let reports = actual.stdout_text().matches("Duration:").count();
    assert!(
        actual.stdout.starts_with(&expected.stdout) && reports == 1,
        "expected python's output ({:?}) followed by exactly one report; got {reports} report(s):\n{}",
        expected.stdout_text(),
        actual.stdout_text()
    );
}

/// A zip file with a `__main__.py`, run as a script (made with python's
/// own zipfile module, so no zip tool is needed).
#[test]
fn zip_file_with_main() {
    let work = TempDir::new("zipapp");
    let scripts = copy_scripts(&work);
    let made = Run::new(python(), &scripts)
        .args([
            "-c",
            "import zipfile\n\
             with zipfile.ZipFile('app.pyz', 'w') as z:\n\
             \x20   z.write('dir_main/__main__.py', '__main__.py')\n\
             \x20   z.write('dir_main/helper_mod.py', 'helper_mod.py')\n",
        ])
        .output();
    assert!(made.status.success(), "{}", made.describe());
    let reports = TempDir::new("zipapp-report");
    let report = reports.join("report.txt");
    for args in [vec!["app.pyz", "a1"], vec!["app.pyz", "--raise"]] {
        let expected = Run::new(python(), &scripts).args(&args).output();
        let actual = Run::new(pyinstrument(), &scripts)
            .arg("-o")
            .arg(&report)
            .args(&args)
            .output();
        let mut problems = Vec::new();
        if expected.code() != actual.code() {
            problems.push(format!(
                "exit: python {}, pyinstrument {}",
                expected.code(),
                actual.code()
            ));
        }
        if let Some(diff) = difference(&expected.stdout, &actual.stdout) {
            problems.push(format!("stdout differs: {diff}"));
        }
        if let Some(diff) = difference(&expected.stderr, &actual.stderr) {
            problems.push(format!("stderr differs: {diff}"));
        }
        problems.extend(check_report(&report, Report::Written, true));
        assert!(
            problems.is_empty(),
            "zip app {:?}:\n  - {}\n--- python: {}\n--- pyinstrument: {}",
            args,
            problems.join("\n  - "),
            expected.describe(),
            actual.describe()
        );
        let _ = std::fs::remove_file(&report);
    }
}
