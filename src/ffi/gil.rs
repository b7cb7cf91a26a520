//! The capability every GIL-bound entry point of `ffi` takes.
//!
//! A [`Gil`] is proof that the calling thread holds the GIL of the
//! interpreter this process runs. It is `!Send` (it cannot reach a thread
//! that does not hold the GIL) and borrowed for the span in which the GIL is
//! known to be held, so code outside `ffi` cannot call a GIL-bound function
//! without it, keep it past that span, or hand it to a signal handler's tick
//! (ticks are plain `fn` pointers: they capture nothing). Only two places
//! make one: interpreter start-up, for the main thread that holds the GIL
//! until finalization (`ffi::interpreter`), and the trampoline of our native
//! module's functions, which Python calls with the GIL held
//! (`ffi::native_module`).
//!
//! It also gives access to the frame layout chosen, and checked against the
//! running interpreter, once (`ffi::layout::running::layout`).

use super::layout::{running, Layout};
use std::marker::PhantomData;

/// See the module comment.
#[derive(Clone, Copy)]
pub struct Gil<'py> {
    _held_for: PhantomData<&'py ()>,
    _not_send: PhantomData<*const ()>,
}

impl Gil<'_> {
    /// # Safety
    /// The calling thread holds the GIL for as long as the token's lifetime
    /// lets it be used.
    pub(super) unsafe fn assume_held() -> Self {
        Gil {
            _held_for: PhantomData,
            _not_send: PhantomData,
        }
    }

    /// The layout of the running interpreter's frames, chosen at start-up
    /// and checked against the interpreter's own description of itself; an
    /// error (the same every time) if they disagree.
    pub fn layout(self) -> Result<&'static Layout, String> {
        running::layout()
    }
}

/// The pending exception, set aside while `ffi` code that must leave it as
/// it was calls the C API (a profile callback, a pending call, a tick), and
/// put back when this is dropped, replacing whatever that code left set.
/// Made and dropped with the GIL held.
pub(super) struct ExceptionSetAside {
    kind: *mut super::py::PyObject,
    value: *mut super::py::PyObject,
    traceback: *mut super::py::PyObject,
}

impl ExceptionSetAside {
    /// # Safety
    /// The calling thread holds the GIL, and still holds it when the value
    /// is dropped.
    pub(super) unsafe fn new() -> Self {
        let mut aside = ExceptionSetAside {
            kind: std::ptr::null_mut(),
            value: std::ptr::null_mut(),
            traceback: std::ptr::null_mut(),
        };
        super::py::PyErr_Fetch(&mut aside.kind, &mut aside.value, &mut aside.traceback);
        aside
    }
}

impl Drop for ExceptionSetAside {
    fn drop(&mut self) {
        // Held since `new` (its contract); the references are handed back.
        unsafe { super::py::PyErr_Restore(self.kind, self.value, self.traceback) }
    }
}
