//! Owning the embedded interpreter: start it the way `python` would, run code
//! in it, and shut it down. Everything here runs on the main thread with the
//! GIL held (the interpreter is ours alone between `initialize` and
//! `finalize`): the [`Interpreter`] start-up returns, and the [`Gil`] tokens
//! it lends, are what make the safe wrappers sound.
//!
//! - `object`: `PyRef` and conversions between Rust values and objects;
//! - `errors`: what escaped Python code, and the pending exception;
//! - `startup`: program name, argv, built-in modules, PEP 587 start-up;
//! - `run`: running our bootstrap and the program's code;
//! - here: the interpreter's life (start, version, finalization, exit).

mod errors;
mod object;
mod run;
mod startup;

pub use errors::*;
pub(crate) use object::new_str;
pub use object::{Arg, HeldRef, PyRef};
pub use run::*;
pub use startup::*;

use crate::ffi::gil::Gil;
use crate::ffi::py;
use std::ffi::CStr;

/// Starts the interpreter with the same signal handling as `python` (SIGINT
/// raises KeyboardInterrupt, SIGPIPE ignored, ...).
pub fn initialize() -> Interpreter {
    unsafe { py::Py_InitializeEx(1) };
    Interpreter::started()
}

/// The running interpreter, owned by the main thread that started it and
/// holds its GIL until it is finalized (`finalize`, or `run_main`, which
/// finalizes too). Its [`Gil`]s cannot outlive it.
pub struct Interpreter {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Interpreter {
    /// Called by the start-up functions, on the thread that initialized.
    pub(super) fn started() -> Interpreter {
        Interpreter {
            _not_send: std::marker::PhantomData,
        }
    }

    /// The main thread holds the GIL from initialization to finalization,
    /// except while `run_main` runs the program (which consumes `self`).
    pub fn gil(&self) -> Gil<'_> {
        unsafe { Gil::assume_held() }
    }
}

/// The version of the libpython actually loaded (not the headers we were
/// built with), e.g. (3, 11).
pub fn runtime_version() -> (u32, u32) {
    unsafe {
        let text = CStr::from_ptr(py::Py_GetVersion()).to_string_lossy();
        let mut parts = text.split(['.', ' ']);
        let major = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        let minor = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        (major, minor)
    }
}

/// Finalizes the interpreter (waits for threads, runs atexit handlers,
/// flushes the standard streams). Returns false where `python` would exit
/// with status 120 (flushing failed).
pub fn finalize(_interpreter: Interpreter) -> bool {
    #[cfg(py_2_7)]
    unsafe {
        py::Py_Finalize();
        true
    }
    #[cfg(not(py_2_7))]
    unsafe {
        py::Py_FinalizeEx() >= 0
    }
}

/// Registers `hook` to run at the very end of finalization, after Python's
/// own atexit handlers and after the standard streams were flushed; also
/// reached when the program exits through SystemExit.
pub fn at_exit(hook: extern "C" fn()) {
    unsafe {
        py::Py_AtExit(Some(hook as _));
    }
}

/// Ends the process as an uncaught KeyboardInterrupt ends `python` 3.8+:
/// by dying of SIGINT, so the parent shell sees it (status 130).
pub fn exit_by_sigint() -> ! {
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_DFL);
        libc::kill(libc::getpid(), libc::SIGINT);
    }
    std::process::exit(128 + libc::SIGINT)
}

/// The version string of the loaded libpython ("3.11.7 (main, ...)"). Safe
/// to call before `initialize`.
pub fn runtime_version_string() -> String {
    unsafe {
        CStr::from_ptr(py::Py_GetVersion())
            .to_string_lossy()
            .into_owned()
    }
}
