//! `pyinstrument [options] script.py [args...]`: argv -> cli::parse -> run ->
//! exit status. The one place that turns errors into messages.

use pyinstrument::cli::{self, CliError, Command};
use pyinstrument::error::Error;
use pyinstrument::output::OutputPlan;
use pyinstrument::runner;
use std::ffi::OsString;

fn main() {
    pyinstrument::ffi::signal_env::restore_python_signal_environment();
    install_panic_hook();
    // As bytes: the program must get its arguments exactly as python would
    // give them, UTF-8 or not.
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    std::process::exit(run(&args));
}

fn run(args: &[OsString]) -> i32 {
    let command = match cli::parse(args) {
        Ok(command) => command,
        Err(CliError::NoArguments) => {
            print!("{}", cli::help_text());
            return 2;
        }
        Err(CliError::Usage(message)) => return report(Error::Usage(message)),
    };
    let result = match command {
        Command::Help => {
            print!("{}", cli::help_text());
            Ok(0)
        }
        Command::Version => {
            println!(
                "pyinstrument {} (Python {})",
                env!("CARGO_PKG_VERSION"),
                env!("PYINSTRUMENT_BUILD_PY_VERSION")
            );
            Ok(0)
        }
        Command::Load(options) => load(&options),
        Command::Run(options) => runner::run(options),
    };
    result.unwrap_or_else(report)
}

fn load(options: &cli::LoadOptions) -> Result<i32, Error> {
    let mut plan = OutputPlan::prepare(&options.output)?;
    // A session loaded again is not saved again.
    plan.remember = false;
    let path = if options.previous {
        pyinstrument::output::saved_session_path(&options.path.to_string_lossy())?.into_os_string()
    } else {
        options.path.clone()
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Error::Load(format!("cannot read '{}': {e}", path.to_string_lossy())))?;
    // Our JSON, or a pyinstrument 5 session file.
    let session = pyinstrument::pyisession::load(&text)?;
    plan.write(&session)?;
    Ok(0)
}

/// Prints `error` the way optparse-style tools do and returns its status.
fn report(error: Error) -> i32 {
    if let Error::Usage(_) = error {
        eprintln!("{}", cli::usage_line());
        eprintln!();
    }
    eprintln!("pyinstrument: error: {error}");
    error.exit_status()
}

/// A bug must never greet the user with a Rust panic and backtrace.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        eprintln!("pyinstrument: internal error{location}: {message}");
        eprintln!("pyinstrument: this is a bug; please report it with the command you ran.");
        std::process::exit(70);
    }));
}
