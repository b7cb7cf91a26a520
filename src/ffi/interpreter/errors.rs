//! Exceptions: what escaped Python code, and the pending exception kept,
//! printed or cleared the way `python` does.

use super::object::PyRef;
use crate::ffi::gil::{ExceptionSetAside, Gil};
use crate::ffi::py;

/// What an exception that escaped the program was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Raised {
    SystemExit,
    KeyboardInterrupt,
    Other,
}

/// The result of running Python code: a value, or an exception left pending
/// in the interpreter (to be printed with `print_pending_exception`).
pub type Outcome<'py> = std::result::Result<PyRef<'py>, Raised>;

pub(super) fn pending_exception_kind() -> Raised {
    unsafe {
        if py::PyErr_ExceptionMatches(py::PyExc_SystemExit) != 0 {
            Raised::SystemExit
        } else if py::PyErr_ExceptionMatches(py::PyExc_KeyboardInterrupt) != 0 {
            Raised::KeyboardInterrupt
        } else {
            Raised::Other
        }
    }
}

pub(super) fn outcome(_gil: Gil<'_>, ptr: *mut py::PyObject) -> Outcome<'_> {
    PyRef::from_owned(ptr).ok_or_else(pending_exception_kind)
}

/// Prints the pending exception exactly as `python` does for an uncaught one
/// (through `sys.excepthook`). For SystemExit this is also where `python`
/// exits: CPython finalizes the interpreter and calls `exit()` with the
/// program's status, so callers must have registered their exit hook first.
pub fn print_pending_exception(_gil: Gil<'_>) {
    unsafe { py::PyErr_Print() }
}

/// Makes `exception` (an exception instance) the pending exception.
pub fn set_pending_exception(_gil: Gil<'_>, exception: &PyRef<'_>) -> Raised {
    unsafe {
        let kind = py::Py_TYPE(exception.as_ptr()) as *mut py::PyObject;
        py::PyErr_SetObject(kind, exception.as_ptr());
    }
    pending_exception_kind()
}

/// Prints the pending exception (if any) and clears it; for errors of our
/// own bootstrap code, which should never happen.
pub fn describe_pending_exception(_gil: Gil<'_>) {
    unsafe {
        if !py::PyErr_Occurred().is_null() {
            py::PyErr_PrintEx(0);
        }
    }
}

/// Runs `f` with the pending exception (if any) set aside, so that Python
/// calls made by `f` cannot clear or replace it.
pub fn preserving_pending_exception<R>(_gil: Gil<'_>, f: impl FnOnce() -> R) -> R {
    let _aside = unsafe { ExceptionSetAside::new() };
    f()
}

/// Clears any pending exception.
pub fn clear_pending_exception(_gil: Gil<'_>) {
    unsafe { py::PyErr_Clear() }
}
