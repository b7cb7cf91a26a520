//! A C-level profile function installed with `PyEval_SetProfile` on the
//! calling thread. CPython calls it with the GIL held on every call, return
//! and C call; it hands each event to a plain Rust function together with
//! the thread's state, so the sampler can read the clock and, rarely, walk
//! the stack. No Python-level callback is involved.
//!
//! The program must not notice the hook: `sys.getprofile()` returns the
//! object given to `PyEval_SetProfile`, and under plain python it is None.
//! So no object is given (NULL, which `sys.getprofile()` shows as None), and
//! the callback finds its state in a thread-local instead. A profile
//! function belongs to one thread, and so does that thread-local, so
//! profilers on several threads at once each see only their own.
//!
//! What this file may assume:
//! - `install` and `uninstall` run on the profiled thread with the GIL held
//!   (`ProfileHook` holds raw pointers, so it cannot leave the thread), and
//!   CPython calls the callback on that thread with the GIL held.
//! - Whether the program replaced the hook (`sys.setprofile`, cProfile, any
//!   C extension calling `PyEval_SetProfile`, even to remove it) is read
//!   from where CPython keeps the thread's profile function,
//!   `PyThreadState.c_profilefunc` (`layout::Layout::tstate_profile_func`,
//!   proven by the offset probe); `install` checks that CPython stored our
//!   callback there before relying on it.

pub mod all_threads;

use super::gil::Gil;
use super::layout::Layout;
use super::py;
use super::stack::StoppedThread;
use std::cell::Cell;
use std::os::raw::{c_char, c_int, c_void};

type TraceFunc =
    unsafe extern "C" fn(*mut py::PyObject, *mut c_void, c_int, *mut py::PyObject) -> c_int;

extern "C" {
    fn PyEval_SetProfile(func: Option<TraceFunc>, obj: *mut py::PyObject);
}

const PYTRACE_CALL: c_int = 0;
const PYTRACE_RETURN: c_int = 3;
const PYTRACE_C_CALL: c_int = 4;
const PYTRACE_C_EXCEPTION: c_int = 5;
const PYTRACE_C_RETURN: c_int = 6;

thread_local! {
    /// The hook installed on this thread, as an `Installed<T>` of the `T`
    /// its callback was compiled for, or null. Read on every profile event:
    /// const-initialised and without a destructor, so reading it is a plain
    /// load, valid at any point of the thread's life.
    static ACTIVE: Cell<*mut c_void> = const { Cell::new(std::ptr::null_mut()) };
}

/// What just happened on the profiled thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A Python function was entered (its frame is already the innermost).
    Call,
    /// A Python function is returning (its frame is still the innermost).
    Return,
    /// A C function is about to be called.
    CCall,
    /// A C function returned or raised.
    CReturn,
}

/// One profile event, valid for the duration of the callback.
pub struct Event {
    pub kind: EventKind,
    callable: *mut py::PyObject,
    layout: &'static Layout,
}

impl Event {
    /// The event `what` with its `arg`, which names a callable only for C
    /// calls and returns.
    fn new(kind: EventKind, arg: *mut py::PyObject, layout: &'static Layout) -> Event {
        let callable = if matches!(kind, EventKind::CCall | EventKind::CReturn) {
            arg
        } else {
            std::ptr::null_mut()
        };
        Event {
            kind,
            callable,
            layout,
        }
    }

    /// The profiled thread (the one the callback runs on, with the GIL),
    /// whose frames stay put until the callback returns.
    pub fn thread(&self) -> StoppedThread<'_> {
        unsafe {
            StoppedThread::lend(
                py::PyThreadState_Get() as *const c_void,
                self.layout,
                libc::CLOCK_THREAD_CPUTIME_ID,
            )
        }
    }

    /// The name of the C function of a CCall/CReturn event (`sleep` for
    /// `time.sleep`), written into `buffer`; returns the bytes used.
    pub fn builtin_name<'b>(&self, buffer: &'b mut [u8]) -> &'b [u8] {
        if self.callable.is_null() {
            return &buffer[..0];
        }
        let name = unsafe { py::PyEval_GetFuncName(self.callable) };
        if name.is_null() {
            return &buffer[..0];
        }
        let bytes = unsafe { std::ffi::CStr::from_ptr(name as *const c_char) }.to_bytes();
        let used = bytes.len().min(buffer.len());
        buffer[..used].copy_from_slice(&bytes[..used]);
        &buffer[..used]
    }
}

struct Installed<T> {
    state: Box<T>,
    on_event: fn(&mut T, &Event),
    layout: &'static Layout,
    /// Set while uninstalling: Python code run then (an audit hook of the
    /// program's, on 3.8+) is not the program's.
    stopping: bool,
}

/// The events that say which frame runs; nothing else does
/// (PyTrace_EXCEPTION, line and opcode events).
fn event_kind(what: c_int) -> Option<EventKind> {
    match what {
        PYTRACE_CALL => Some(EventKind::Call),
        PYTRACE_RETURN => Some(EventKind::Return),
        PYTRACE_C_CALL => Some(EventKind::CCall),
        PYTRACE_C_RETURN | PYTRACE_C_EXCEPTION => Some(EventKind::CReturn),
        _ => None,
    }
}

unsafe extern "C" fn profile_callback<T>(
    _obj: *mut py::PyObject,
    _frame: *mut c_void,
    what: c_int,
    arg: *mut py::PyObject,
) -> c_int {
    let Some(kind) = event_kind(what) else {
        return 0;
    };
    // Only `install` makes this callback the thread's profile function, and
    // it makes ACTIVE an `Installed<T>` of the same `T` at the same time.
    let installed = ACTIVE.with(Cell::get) as *mut Installed<T>;
    if installed.is_null() {
        return 0;
    }
    let installed = &mut *installed;
    if installed.stopping {
        return 0;
    }
    let event = Event::new(kind, arg, installed.layout);
    (installed.on_event)(&mut installed.state, &event);
    0
}

/// A profile function installed on one thread.
pub struct ProfileHook<T: 'static> {
    installed: *mut Installed<T>,
    /// This thread's `PyThreadState.c_profilefunc`.
    profile_function: *const usize,
    callback: TraceFunc,
}

impl<T: 'static> ProfileHook<T> {
    /// Installs the hook on the calling thread, which holds the GIL. A hook
    /// already installed on this thread is replaced (and its `uninstall`
    /// says so).
    pub fn install(
        gil: Gil<'_>,
        state: Box<T>,
        on_event: fn(&mut T, &Event),
    ) -> Result<ProfileHook<T>, String> {
        let layout = gil.layout()?;
        let callback: TraceFunc = profile_callback::<T>;
        let installed = Box::into_raw(Box::new(Installed {
            state,
            on_event,
            layout,
            stopping: false,
        }));
        // Set first: the first event may come as soon as CPython has the hook.
        ACTIVE.with(|active| active.set(installed as *mut c_void));
        unsafe {
            let thread = py::PyThreadState_Get() as *const usize;
            PyEval_SetProfile(Some(callback), std::ptr::null_mut());
            match profile_function_slot(layout, thread, callback as usize) {
                Some(profile_function) => Ok(ProfileHook {
                    installed,
                    profile_function,
                    callback,
                }),
                None => {
                    // CPython did not take the hook (on 3.8+ an audit hook
                    // can refuse it), or keeps it where we cannot check it.
                    PyEval_SetProfile(None, std::ptr::null_mut());
                    ACTIVE.with(|active| active.set(std::ptr::null_mut()));
                    drop(Box::from_raw(installed));
                    Err("cannot install the profile function (PyEval_SetProfile)".to_string())
                }
            }
        }
    }

    /// Removes the hook (from the thread that installed it) and returns the
    /// state, and whether the program had replaced our hook in the meantime
    /// (then the program's profile function, if any, stays).
    pub fn uninstall(self, _gil: Gil<'_>) -> (Box<T>, bool) {
        unsafe {
            (*self.installed).stopping = true;
            let active = ACTIVE.with(Cell::get) == self.installed as *mut c_void;
            let still_ours =
                active && std::ptr::read_volatile(self.profile_function) == self.callback as usize;
            if still_ours {
                PyEval_SetProfile(None, std::ptr::null_mut());
            }
            if active {
                ACTIVE.with(|active| active.set(std::ptr::null_mut()));
            }
            let installed = Box::from_raw(self.installed);
            (installed.state, !still_ours)
        }
    }
}

/// This thread's `c_profilefunc`, if it holds `callback` as it must right
/// after `PyEval_SetProfile(callback, ...)`.
unsafe fn profile_function_slot(
    layout: &Layout,
    thread: *const usize,
    callback: usize,
) -> Option<*const usize> {
    let word = (thread as *const u8).add(layout.tstate_profile_func) as *const usize;
    (std::ptr::read_volatile(word) == callback).then_some(word)
}
