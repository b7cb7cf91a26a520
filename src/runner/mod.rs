//! Runs a program under the profiler exactly as `python script.py` or
//! `python -m module` would run it: same interpreter environment, same
//! `sys.argv`/`sys.path[0]`/`__main__`, same output, tracebacks and exit
//! status. The report is written at the very end of interpreter shutdown,
//! after the program's atexit handlers and after its output was flushed.

pub(crate) mod environment;

use crate::cli::{RunOptions, Target};
use crate::error::{Error, Result};
use crate::ffi::gil::Gil;
#[cfg(not(py_run_main))]
use crate::ffi::interpreter::Raised;
use crate::ffi::interpreter::{self as interp, Arg, HeldRef, PyRef};
#[cfg(py_run_main)]
use crate::ffi::native_module::{private_module, Function, Raise, Value};
use crate::output::OutputPlan;
use crate::sample::OWN_CODE_FILE;
use crate::sampler::{self, Sampler};
use crate::session::{ProgramInfo, Session};
use std::cell::RefCell;
use std::ffi::OsString;
#[cfg(py_run_main)]
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Mutex;

const BOOTSTRAP: &str = include_str!("bootstrap.py");
/// Shared with the Python package: what the interpreter's environment is.
const ENVIRONMENT: &str = include_str!("../../pyshim/pyinstrument/_environment.py");
/// The Python package, served to the program by an import hook.
const EMBEDDED_PACKAGE: &[(&str, &str, bool)] = &[
    (
        "pyinstrument",
        include_str!("../../pyshim/pyinstrument/__init__.py"),
        true,
    ),
    ("pyinstrument._environment", ENVIRONMENT, false),
    (
        "pyinstrument.profiler",
        include_str!("../../pyshim/pyinstrument/profiler.py"),
        false,
    ),
    (
        "pyinstrument.middleware",
        include_str!("../../pyshim/pyinstrument/middleware.py"),
        false,
    ),
    (
        "pyinstrument._web",
        include_str!("../../pyshim/pyinstrument/_web.py"),
        false,
    ),
    (
        "pyinstrument.wsgi",
        include_str!("../../pyshim/pyinstrument/wsgi.py"),
        false,
    ),
    // ASGI is asyncio's: Python 3 syntax, absent (an ImportError) on 2.7.
    #[cfg(not(py_2_7))]
    (
        "pyinstrument.asgi",
        include_str!("../../pyshim/pyinstrument/asgi.py"),
        false,
    ),
    (
        "pyinstrument.magic",
        include_str!("../../pyshim/pyinstrument/magic.py"),
        false,
    ),
];
const BOOTSTRAP_NAME: &str = OWN_CODE_FILE;

/// The report waiting for the interpreter to finish shutting down.
static PENDING_REPORT: Mutex<Option<(Session, OutputPlan)>> = Mutex::new(None);
static REPORT_FAILED: AtomicBool = AtomicBool::new(false);
/// The process that runs the program; a child it forks must not report.
static RUNNER_PID: AtomicU32 = AtomicU32::new(0);

fn in_runner_process() -> bool {
    RUNNER_PID.load(Ordering::SeqCst) == std::process::id()
}

/// Called by CPython at the very end of finalization, including when the
/// program exits through `sys.exit()` (where CPython calls `exit()` itself).
extern "C" fn write_pending_report() {
    if !in_runner_process() {
        return;
    }
    let pending = PENDING_REPORT
        .lock()
        .map(|mut slot| slot.take())
        .unwrap_or(None);
    if let Some((session, plan)) = pending {
        if let Err(error) = plan.write(&session) {
            eprintln!("pyinstrument: {error}");
            REPORT_FAILED.store(true, Ordering::SeqCst);
        }
    }
}

/// What is needed to turn the recording into a report, once the program ends.
struct ActiveRun {
    sampler: Sampler,
    plan: OutputPlan,
    command_line: Vec<String>,
    /// The bootstrap namespace, kept to read the program's facts at the end
    /// (in another GIL span: the atexit handler's).
    bootstrap: HeldRef,
}

thread_local! {
    /// The profiling of the program, on the main thread.
    static ACTIVE_RUN: RefCell<Option<ActiveRun>> = const { RefCell::new(None) };
}

/// Stops sampling and leaves the report for `write_pending_report`. Runs
/// on the main thread while the interpreter is still whole: from a Python
/// atexit handler registered before the program's own (so it runs after
/// them), or, for legacy start-up, right after the program returns.
fn finish_run(gil: Gil<'_>) {
    let Some(run) = ACTIVE_RUN.with(|active| active.borrow_mut().take()) else {
        return;
    };
    let recording = interp::preserving_pending_exception(gil, || run.sampler.stop(gil));
    if !in_runner_process() {
        return; // a forked child: it inherited the profiler, not the report
    }
    let bootstrap = run.bootstrap.bind(gil);
    let (program, never_started) = interp::preserving_pending_exception(gil, || {
        program_info(gil, &bootstrap, run.command_line)
    });
    drop(bootstrap);
    if never_started {
        return; // python reported why; like it, make nothing
    }
    let session = Session::from_recording(recording, program);
    if let Ok(mut slot) = PENDING_REPORT.lock() {
        *slot = Some((session, run.plan));
    }
}

/// Facts about the program read from the interpreter at the end of the run
/// (so that nothing is imported before the program starts), and whether
/// the program never started (its script did not compile).
fn program_info<'py>(
    gil: Gil<'py>,
    bootstrap: &PyRef<'py>,
    command_line: Vec<String>,
) -> (ProgramInfo, bool) {
    let call = |name: &str| interp::call_in_namespace(gil, bootstrap, name, &[]).ok();
    let info = ProgramInfo {
        command_line,
        python_version: call("python_version")
            .and_then(|v| v.to_string_lossy())
            .unwrap_or_default(),
        sys_path: call("sys_path")
            .map(|v| v.to_string_list())
            .unwrap_or_default(),
        library_dirs: call("library_dirs")
            .map(|v| v.to_string_list())
            .unwrap_or_default(),
        own_code_dirs: call("own_code_dirs")
            .map(|v| v.to_string_list())
            .unwrap_or_default(),
    };
    let never_started = call("program_never_started").is_some_and(|v| v.is_true());
    interp::clear_pending_exception(gil);
    (info, never_started)
}

/// Runs the program and returns the exit status python would have.
pub fn run(mut options: RunOptions) -> Result<i32> {
    let plan = OutputPlan::prepare(&options.output)?;
    check_runtime_version()?;
    if let Target::Script { path, .. } = &mut options.target {
        if options.from_path {
            *path = environment::find_on_path(path)?;
        }
        environment::check_script_readable(path)?;
    }
    RUNNER_PID.store(std::process::id(), Ordering::SeqCst);
    let python = environment::python_program();
    // For the report's header only: the program gets the bytes themselves.
    let shown = |arg: &OsString| arg.to_string_lossy().into_owned();
    let command_line = match &options.target {
        Target::Script { path, args } => std::iter::once(path).chain(args).map(shown).collect(),
        Target::Module { name, args } => std::iter::once("-m".to_string())
            .chain(std::iter::once(name).chain(args).map(shown))
            .collect(),
        Target::Command { code, args } => std::iter::once("-c".to_string())
            .chain(std::iter::once(code).chain(args).map(shown))
            .collect(),
    };
    let mode = match options.mode {
        crate::cli::Mode::Signal => sampler::Mode::Signal,
        crate::cli::Mode::Setprofile => sampler::Mode::Setprofile,
    };
    interp::register_builtin_module(c"_pyinstrument", crate::api::MODULE_INIT);
    let status = run_program(
        &python,
        &options.target,
        mode,
        options.interval,
        options.all_threads,
        plan,
        command_line,
    )?;
    if REPORT_FAILED.load(Ordering::SeqCst) && status == 0 {
        return Ok(1);
    }
    Ok(status)
}

/// Loads the bootstrap code and the import hook serving the `pyinstrument`
/// package to the program.
fn load_bootstrap(gil: Gil<'_>) -> Result<PyRef<'_>> {
    let source = format!("{ENVIRONMENT}\n{BOOTSTRAP}");
    let bootstrap = interp::exec_in_new_namespace(gil, &source, BOOTSTRAP_NAME)
        .map_err(|_| bootstrap_failed(gil, "load"))?;
    for (name, source, is_package) in EMBEDDED_PACKAGE {
        interp::call_in_namespace(
            gil,
            &bootstrap,
            "add_embedded_module",
            &[Arg::Str(name), Arg::Str(source), Arg::Bool(*is_package)],
        )
        .map_err(|_| bootstrap_failed(gil, "add_embedded_module"))?;
    }
    interp::call_in_namespace(
        gil,
        &bootstrap,
        "install_embedded_finder",
        &[Arg::Str(OWN_CODE_FILE)],
    )
    .map_err(|_| bootstrap_failed(gil, "install_embedded_finder"))?;
    Ok(bootstrap)
}

/// The runner's end-of-run hook, held by nothing but the atexit handler
/// the bootstrap registers: the program cannot import it or call it.
/// (Legacy start-up calls `finish_run` itself when the program returns.)
#[cfg(py_run_main)]
static RUNNER_HOOKS: [Function; 1] = [Function {
    name: c"finish_run",
    doc: c"finish_run(): the runner's end of profiling (registered with atexit)",
    call: finish_run_hook,
}];

#[cfg(py_run_main)]
fn finish_run_hook(gil: Gil<'_>, _args: &[Value]) -> std::result::Result<Value, Raise> {
    finish_run(gil);
    Ok(Value::None)
}

#[cfg(py_run_main)]
fn register_finish<'py>(gil: Gil<'py>, bootstrap: &PyRef<'py>) -> Result<()> {
    let hooks = private_module(
        gil,
        c"_pyinstrument_runner",
        c"pyinstrument's runner hooks",
        &RUNNER_HOOKS,
    )
    .ok_or_else(|| bootstrap_failed(gil, "hooks"))?;
    interp::call_in_namespace(gil, bootstrap, "register_finish", &[Arg::Object(&hooks)])
        .map_err(|_| bootstrap_failed(gil, "register_finish"))?;
    Ok(())
}

fn bootstrap_failed(gil: Gil<'_>, step: &str) -> Error {
    interp::describe_pending_exception(gil);
    Error::Python(format!(
        "pyinstrument's start-up step '{step}' failed (see above)"
    ))
}

fn start_sampling(
    gil: Gil<'_>,
    mode: sampler::Mode,
    interval: f64,
    all_threads: bool,
    plan: OutputPlan,
    command_line: Vec<String>,
    bootstrap: PyRef<'_>,
) -> Result<()> {
    let sampler = Sampler::start(gil, mode, interval, all_threads)?;
    ACTIVE_RUN.with(|active| {
        *active.borrow_mut() = Some(ActiveRun {
            sampler,
            plan,
            command_line,
            bootstrap: bootstrap.unbind(),
        })
    });
    Ok(())
}

/// 3.8+: python's own start-up and `Py_RunMain` run the program, so every
/// detail of `python script.py` (sys.path[0], __file__, flags, tracebacks,
/// exit status, KeyboardInterrupt) is python's by construction. Sampling
/// starts just before, and stops in an atexit handler registered first.
#[cfg(py_run_main)]
fn run_program(
    python: &str,
    target: &Target,
    mode: sampler::Mode,
    interval: f64,
    all_threads: bool,
    plan: OutputPlan,
    command_line: Vec<String>,
) -> Result<i32> {
    let mut argv: Vec<OsString> = vec![python.into()];
    match target {
        Target::Script { path, args } => {
            if path.as_bytes().starts_with(b"-") {
                argv.push("--".into());
            }
            argv.push(path.clone());
            argv.extend(args.iter().cloned());
        }
        Target::Module { name, args } => {
            argv.extend(["-m".into(), name.clone()]);
            argv.extend(args.iter().cloned());
        }
        Target::Command { code, args } => {
            argv.extend(["-c".into(), code.clone()]);
            argv.extend(args.iter().cloned());
        }
    }
    let interpreter = interp::initialize_from_command_line(&argv);
    let gil = interpreter.gil();
    let bootstrap = load_bootstrap(gil)?;
    register_finish(gil, &bootstrap)?;
    interp::at_exit(write_pending_report);
    start_sampling(
        gil,
        mode,
        interval,
        all_threads,
        plan,
        command_line,
        bootstrap,
    )?;
    Ok(interp::run_main(interpreter))
}

/// What `python` would run, on the legacy start-up path.
#[cfg(not(py_run_main))]
enum Prepared<'py> {
    Code(PyRef<'py>),
    /// Preparing raised (a SyntaxError), and the exception is pending.
    Failed,
    MainFromImporter,
    Module(OsString),
}

/// 2.7, 3.6, 3.7: no PEP 587, so the runner does python's start-up steps
/// itself: argv and sys.path[0], `__main__`, compiling the script, and
/// printing an uncaught exception the way python does.
#[cfg(not(py_run_main))]
fn run_program(
    python: &str,
    target: &Target,
    mode: sampler::Mode,
    interval: f64,
    all_threads: bool,
    plan: OutputPlan,
    command_line: Vec<String>,
) -> Result<i32> {
    let argv: Vec<OsString> = match target {
        Target::Script { path, args } => std::iter::once(path.clone())
            .chain(args.iter().cloned())
            .collect(),
        Target::Module { args, .. } => std::iter::once("-m".into())
            .chain(args.iter().cloned())
            .collect(),
        Target::Command { args, .. } => std::iter::once("-c".into())
            .chain(args.iter().cloned())
            .collect(),
    };
    interp::set_program_name(python);
    interp::apply_legacy_environment_flags();
    let interpreter = interp::initialize();
    let gil = interpreter.gil();
    interp::set_argv(gil, &argv, true).map_err(Error::Python)?;
    let bootstrap = load_bootstrap(gil)?;
    let prepared = match target {
        Target::Script { .. } | Target::Command { .. } => {
            let (step, arg) = match target {
                Target::Script { path, .. } => ("prepare_script", path),
                Target::Command { code, .. } => ("prepare_command", code),
                Target::Module { .. } => unreachable!("matched above"),
            };
            let kind = interp::call_in_namespace(gil, &bootstrap, step, &[Arg::CommandLine(arg)])
                .map_err(|_| bootstrap_failed(gil, step))?
                .to_string_lossy()
                .unwrap_or_default();
            let value = interp::namespace_get(gil, &bootstrap, "_prepared");
            match (kind.as_str(), value) {
                ("code", Some(code)) => Prepared::Code(code),
                ("importer", _) => Prepared::MainFromImporter,
                (_, Some(exception)) => {
                    interp::set_pending_exception(gil, &exception);
                    Prepared::Failed
                }
                _ => {
                    return Err(Error::Python(
                        "pyinstrument could not prepare the program".to_string(),
                    ))
                }
            }
        }
        Target::Module { name, .. } => {
            interp::call_in_namespace(gil, &bootstrap, "set_module_path0", &[])
                .map_err(|_| bootstrap_failed(gil, "set_module_path0"))?;
            Prepared::Module(name.clone())
        }
    };
    if let Prepared::Failed = prepared {
        // A SyntaxError: reported exactly as python reports it, and no
        // profile: nothing ran. (Every reference is released before the
        // interpreter is finalized: the compiler holds `PyRef`s to the GIL
        // span that ends there.)
        drop(prepared);
        drop(bootstrap);
        interp::flush_std_streams(gil);
        interp::print_pending_exception(gil);
        let flushed = interp::finalize(interpreter);
        return Ok(if flushed { 1 } else { 120 });
    }
    interp::at_exit(write_pending_report);
    start_sampling(
        gil,
        mode,
        interval,
        all_threads,
        plan,
        command_line,
        bootstrap,
    )?;
    let outcome = match &prepared {
        Prepared::Code(code) => interp::eval_in_main(gil, code),
        Prepared::Failed => unreachable!("a program that failed to prepare returned above"),
        Prepared::MainFromImporter => interp::import_and_call(
            gil,
            "runpy",
            "_run_module_as_main",
            &[Arg::Str("__main__"), Arg::Bool(false)],
        ),
        Prepared::Module(name) => interp::import_and_call(
            gil,
            "runpy",
            "_run_module_as_main",
            &[Arg::CommandLine(name), Arg::Bool(true)],
        ),
    };
    // As python does when the main module returns or raises: stderr, then
    // stdout, before anything else is printed.
    interp::flush_std_streams(gil);
    finish_run(gil);
    drop(prepared);

    let mut status = 0;
    let mut interrupted = false;
    if let Err(raised) = outcome {
        interrupted = raised == Raised::KeyboardInterrupt;
        // For SystemExit, CPython finalizes and exits from in here, after
        // writing the report through `write_pending_report`.
        interp::print_pending_exception(gil);
        status = 1;
    }
    drop(outcome);
    let flushed = interp::finalize(interpreter);
    if interrupted && interp::runtime_version() >= (3, 8) {
        interp::exit_by_sigint();
    }
    Ok(if flushed { status } else { 120 })
}

fn check_runtime_version() -> Result<()> {
    let built = env!("PYINSTRUMENT_BUILD_PY_VERSION");
    let (major, minor) = interp::runtime_version();
    let loaded = format!("{major}.{minor}");
    if loaded != built {
        return Err(Error::Python(format!(
            "this pyinstrument was built for Python {built}, but the libpython it loaded is Python {} \
             (from {}). Rebuild pyinstrument against that Python (PYTHON_SYS_EXECUTABLE=... cargo build), \
             or make Python {built}'s library available.",
            interp::runtime_version_string().split_whitespace().next().unwrap_or("?"),
            env!("PYINSTRUMENT_BUILD_PY_LIBRARY"),
        )));
    }
    Ok(())
}
