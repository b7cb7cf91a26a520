//! Runs a program under the profiler exactly as `python script.py` or
//! `python -m module` would run it: same interpreter environment, same
//! `sys.argv`/`sys.path[0]`/`__main__`, same output, tracebacks and exit
//! status. The report is written at the very end of interpreter shutdown,
//! after the program's atexit handlers and after its output was flushed.

mod environment;

use crate::cli::{RunOptions, Target};
use crate::error::{Error, Result};
use crate::ffi::interpreter::{self as interp, Arg, PyRef, Raised};
use crate::output::OutputPlan;
use crate::sampler::{self, ProgramInfo, Sampler};
use crate::session::Session;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

const BOOTSTRAP: &str = include_str!("bootstrap.py");
/// Shared with the Python package: what the interpreter's environment is.
const ENVIRONMENT: &str = include_str!("../../pyshim/pyinstrument/_environment.py");
/// The Python package, served to the program by an import hook.
const EMBEDDED_PACKAGE: &[(&str, &str, bool)] = &[
    ("pyinstrument", include_str!("../../pyshim/pyinstrument/__init__.py"), true),
    ("pyinstrument._environment", ENVIRONMENT, false),
    ("pyinstrument.profiler", include_str!("../../pyshim/pyinstrument/profiler.py"), false),
    ("pyinstrument.middleware", include_str!("../../pyshim/pyinstrument/middleware.py"), false),
];
const BOOTSTRAP_NAME: &str = "<pyinstrument>";

/// The report waiting for the interpreter to finish shutting down.
static PENDING_REPORT: Mutex<Option<(Session, OutputPlan)>> = Mutex::new(None);
static REPORT_FAILED: AtomicBool = AtomicBool::new(false);

/// Called by CPython at the very end of finalization, including when the
/// program exits through `sys.exit()` (where CPython calls `exit()` itself).
extern "C" fn write_pending_report() {
    let pending = PENDING_REPORT.lock().map(|mut slot| slot.take()).unwrap_or(None);
    if let Some((session, plan)) = pending {
        if let Err(error) = plan.write(&session) {
            eprintln!("pyinstrument: {error}");
            REPORT_FAILED.store(true, Ordering::SeqCst);
        }
    }
}

/// What `python` would run.
enum Prepared {
    Code(PyRef),
    MainFromImporter,
    Module(String),
}

/// Runs the program and returns the exit status python would have.
pub fn run(options: RunOptions) -> Result<i32> {
    let plan = OutputPlan::prepare(&options.output)?;
    check_runtime_version()?;
    let (argv, command_line) = match &options.target {
        Target::Script { path, args } => {
            environment::check_script_readable(path)?;
            let argv: Vec<String> = std::iter::once(path.clone()).chain(args.iter().cloned()).collect();
            (argv.clone(), argv)
        }
        Target::Module { name, args } => {
            let argv: Vec<String> = std::iter::once("-m".to_string()).chain(args.iter().cloned()).collect();
            let command_line = ["-m".to_string(), name.clone()].into_iter().chain(args.iter().cloned()).collect();
            (argv, command_line)
        }
    };

    interp::set_program_name(&environment::python_program());
    interp::register_builtin_module(c"_pyinstrument", crate::api::MODULE_INIT);
    interp::initialize();
    interp::set_argv(&argv, true);

    let source = format!("{ENVIRONMENT}\n{BOOTSTRAP}");
    let bootstrap = interp::exec_in_new_namespace(&source, BOOTSTRAP_NAME).map_err(|_| {
        interp::describe_pending_exception();
        Error::Python("pyinstrument's start-up code failed (see above)".to_string())
    })?;
    let call = |name: &str, args: &[Arg]| {
        interp::call_in_namespace(&bootstrap, name, args).map_err(|_| {
            interp::describe_pending_exception();
            Error::Python(format!("pyinstrument's start-up step '{name}' failed (see above)"))
        })
    };

    for (name, source, is_package) in EMBEDDED_PACKAGE {
        call("add_embedded_module", &[Arg::Str(name), Arg::Str(source), Arg::Bool(*is_package)])?;
    }
    call("install_embedded_finder", &[])?;

    let prepared = match &options.target {
        Target::Script { path, .. } => {
            let kind = call("prepare_script", &[Arg::Str(path)])?.to_string_lossy().unwrap_or_default();
            let value = interp::namespace_get(&bootstrap, "_prepared");
            match (kind.as_str(), value) {
                ("code", Some(code)) => Prepared::Code(code),
                ("importer", _) => Prepared::MainFromImporter,
                (_, Some(exception)) => {
                    // A SyntaxError (or an unreadable file): reported exactly
                    // as python reports it, and no profile: nothing ran.
                    interp::set_pending_exception(&exception);
                    interp::print_pending_exception();
                    let flushed = interp::finalize();
                    return Ok(if flushed { 1 } else { 120 });
                }
                _ => return Err(Error::Python("pyinstrument could not prepare the script".to_string())),
            }
        }
        Target::Module { name, .. } => {
            call("set_module_path0", &[])?;
            Prepared::Module(name.clone())
        }
    };

    let python_version = call("python_version", &[])?.to_string_lossy().unwrap_or_default();
    let sys_path = call("sys_path", &[])?.to_string_list();
    let library_dirs = call("library_dirs", &[])?.to_string_list();
    drop(bootstrap);

    interp::at_exit(write_pending_report);
    let mode = match options.mode {
        crate::cli::Mode::Signal => sampler::Mode::Signal,
        crate::cli::Mode::Setprofile => sampler::Mode::Setprofile,
    };
    let sampler = Sampler::start(mode, options.interval)?;
    let outcome = match &prepared {
        Prepared::Code(code) => interp::eval_in_main(code),
        Prepared::MainFromImporter => {
            interp::import_and_call("runpy", "_run_module_as_main", &[Arg::Str("__main__"), Arg::Bool(false)])
        }
        Prepared::Module(name) => {
            interp::import_and_call("runpy", "_run_module_as_main", &[Arg::Str(name), Arg::Bool(true)])
        }
    };
    let recording = sampler.stop();
    drop(prepared);

    let session = recording.into_session(ProgramInfo { command_line, python_version, sys_path, library_dirs });
    if let Ok(mut slot) = PENDING_REPORT.lock() {
        *slot = Some((session, plan));
    }

    let mut status = 0;
    let mut interrupted = false;
    if let Err(raised) = outcome {
        interrupted = raised == Raised::KeyboardInterrupt;
        // For SystemExit, CPython finalizes and exits from in here, after
        // writing the report through `write_pending_report`.
        interp::print_pending_exception();
        status = 1;
    } else {
        drop(outcome);
    }
    let flushed = interp::finalize();
    if interrupted && interp::runtime_version() >= (3, 8) {
        interp::exit_by_sigint();
    }
    if !flushed {
        status = 120;
    }
    if REPORT_FAILED.load(Ordering::SeqCst) && status == 0 {
        status = 1;
    }
    Ok(status)
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
