//! A C-level profile function installed with `PyEval_SetProfile` on the
//! calling thread. CPython calls it with the GIL held on every call, return
//! and C call; it hands each event to a plain Rust function together with
//! the thread's state, so the sampler can read the clock and, rarely, walk
//! the stack. No Python-level callback is involved.

use super::interpreter::PyRef;
use super::py;
use super::stack::ThreadStateRef;
use std::os::raw::{c_char, c_int, c_void};

type TraceFunc =
    unsafe extern "C" fn(*mut py::PyObject, *mut c_void, c_int, *mut py::PyObject) -> c_int;

extern "C" {
    fn PyEval_SetProfile(func: Option<TraceFunc>, obj: *mut py::PyObject);
}

const PYTRACE_CALL: c_int = 0;
const PYTRACE_EXCEPTION: c_int = 1;
const PYTRACE_RETURN: c_int = 3;
const PYTRACE_C_CALL: c_int = 4;
const PYTRACE_C_EXCEPTION: c_int = 5;
const PYTRACE_C_RETURN: c_int = 6;

const CAPSULE_NAME: &std::ffi::CStr = c"pyinstrument.setprofile";

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
}

impl Event {
    /// The profiled thread (the one the callback runs on).
    pub fn thread(&self) -> ThreadStateRef {
        ThreadStateRef::current()
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
    /// Set while uninstalling: the Python calls made then (which can run
    /// the garbage collector and finalize generators) are not the program's.
    stopping: bool,
}

unsafe extern "C" fn profile_callback<T>(
    obj: *mut py::PyObject,
    _frame: *mut c_void,
    what: c_int,
    arg: *mut py::PyObject,
) -> c_int {
    let kind = match what {
        PYTRACE_CALL => EventKind::Call,
        PYTRACE_RETURN => EventKind::Return,
        PYTRACE_C_CALL => EventKind::CCall,
        PYTRACE_C_RETURN | PYTRACE_C_EXCEPTION => EventKind::CReturn,
        PYTRACE_EXCEPTION | _ => return 0,
    };
    let installed = py::PyCapsule_GetPointer(obj, CAPSULE_NAME.as_ptr()) as *mut Installed<T>;
    if installed.is_null() {
        py::PyErr_Clear();
        return 0;
    }
    let installed = &mut *installed;
    if installed.stopping {
        return 0;
    }
    let callable = if matches!(kind, EventKind::CCall | EventKind::CReturn) {
        arg
    } else {
        std::ptr::null_mut()
    };
    let event = Event { kind, callable };
    (installed.on_event)(&mut installed.state, &event);
    0
}

/// A profile function installed on one thread.
pub struct ProfileHook<T: 'static> {
    capsule: PyRef,
    installed: *mut Installed<T>,
}

impl<T: 'static> ProfileHook<T> {
    /// Installs the hook on the calling thread, which holds the GIL.
    pub fn install(state: Box<T>, on_event: fn(&mut T, &Event)) -> Result<ProfileHook<T>, String> {
        let installed = Box::into_raw(Box::new(Installed {
            state,
            on_event,
            stopping: false,
        }));
        unsafe {
            let capsule = py::PyCapsule_New(installed as *mut c_void, CAPSULE_NAME.as_ptr(), None);
            let Some(capsule) = PyRef::from_owned(capsule) else {
                py::PyErr_Clear();
                drop(Box::from_raw(installed));
                return Err("cannot create the profile hook".to_string());
            };
            PyEval_SetProfile(Some(profile_callback::<T>), capsule.as_ptr());
            Ok(ProfileHook { capsule, installed })
        }
    }

    /// Removes the hook (from the thread that installed it) and returns the
    /// state, and whether the program had replaced our hook in the meantime.
    pub fn uninstall(self) -> (Box<T>, bool) {
        unsafe {
            (*self.installed).stopping = true;
            let replaced = !current_profile_object_is(self.capsule.as_ptr());
            if !replaced {
                PyEval_SetProfile(None, std::ptr::null_mut());
            }
            let installed = Box::from_raw(self.installed);
            drop(self.capsule);
            (installed.state, replaced)
        }
    }
}

/// Whether `sys.getprofile()` is `obj`.
unsafe fn current_profile_object_is(obj: *mut py::PyObject) -> bool {
    let getprofile = py::PySys_GetObject(c"getprofile".as_ptr() as *mut c_char);
    if getprofile.is_null() {
        return true;
    }
    let current = py::PyObject_CallObject(getprofile, std::ptr::null_mut());
    if current.is_null() {
        py::PyErr_Clear();
        return true;
    }
    let same = current == obj;
    py::Py_DECREF(current);
    same
}
