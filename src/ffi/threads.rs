//! What every way of following many threads (`--all-threads`) shares:
//! a thread's recording once sampling has stopped, and the `threading`
//! names of the threads recorded.
//!
//! Names are noted while profiling as well as at the end: a thread's
//! `Thread` object can be gone by the time profiling stops. A name is
//! matched to a recording by `threading.get_ident()` and, where `Thread`
//! keeps it (3.8+), the native thread id; without one, by when the thread
//! was seen running.

use super::gil::{ExceptionSetAside, Gil};
use super::py;
use super::stack::monotonic_ns;
use std::sync::Mutex;

/// One thread's recording, once sampling has stopped.
pub struct ThreadRecording<T> {
    pub state: Box<T>,
    /// `threading.get_ident()` of the thread.
    pub ident: u64,
    /// The kernel's thread id (`threading.get_native_id()`).
    pub native_id: i64,
    /// Monotonic ns: when first seen (or when profiling started), and when
    /// last seen (or when profiling stopped).
    pub first_ns: u64,
    pub last_ns: u64,
    /// Its CPU clock when first seen, and when last sampled.
    pub first_cpu_ns: u64,
    pub last_cpu_ns: u64,
    /// Ended while profiled.
    pub ended: bool,
    /// Started after profiling did.
    pub started_later: bool,
}

impl ThreadRecording<()> {
    /// A thread followed from now on: its clocks start at `first_ns` and
    /// `first_cpu_ns`, and it was last seen at `seen_ns`.
    pub(crate) fn begun(
        ident: u64,
        native_id: i64,
        first_ns: u64,
        seen_ns: u64,
        first_cpu_ns: u64,
        started_later: bool,
    ) -> Self {
        ThreadRecording {
            state: Box::new(()),
            ident,
            native_id,
            first_ns,
            last_ns: seen_ns,
            first_cpu_ns,
            last_cpu_ns: first_cpu_ns,
            ended: false,
            started_later,
        }
    }

    /// The same recording, holding the thread's state.
    pub(crate) fn with_state<T>(self, state: Box<T>) -> ThreadRecording<T> {
        ThreadRecording {
            state,
            ident: self.ident,
            native_id: self.native_id,
            first_ns: self.first_ns,
            last_ns: self.last_ns,
            first_cpu_ns: self.first_cpu_ns,
            last_cpu_ns: self.last_cpu_ns,
            ended: self.ended,
            started_later: self.started_later,
        }
    }
}

/// A thread name seen: gathered from `threading` with the GIL while
/// profiling, when a sampler follows new threads (their `Thread` objects
/// may be gone by the time profiling stops), and again at stop.
struct SeenName {
    ident: u64,
    /// 3.8+; None before, where `Thread` has no `_native_id`.
    native: Option<i64>,
    name: String,
    /// Before 3.8: when (monotonic ns) a *running* thread (one of
    /// `threading._active`) had this ident and name. An ident
    /// (`pthread_t`) belongs to one live thread at a time, but is reused
    /// as soon as it ends; without a native id, a name is trusted only for
    /// the thread that was alive with that ident at that time.
    seen_from_ns: u64,
    seen_to_ns: u64,
    /// Seen in `threading._active` (else only as an object).
    running: bool,
}

static NAMES: Mutex<Vec<SeenName>> = Mutex::new(Vec::new());

fn seen_names() -> std::sync::MutexGuard<'static, Vec<SeenName>> {
    NAMES.lock().unwrap_or_else(|p| p.into_inner())
}

/// Notes the names of the threads `threading` knows now, so that a thread
/// whose `Thread` object is freed before profiling stops keeps its name.
pub fn note_thread_names(_gil: Gil<'_>) {
    unsafe { capture_names() }
}

/// Notes the name of the running thread whose `threading.get_ident()` is
/// `ident`, if `threading._active` holds its `Thread` yet: one dict lookup,
/// then the object's instance attributes, so no Python function runs (a
/// profile callback calls it). Returns whether it was found. With the GIL;
/// the exception state is left as it was.
pub(crate) unsafe fn note_running_thread_name(ident: u64) -> bool {
    let threading = threading_module();
    if threading.is_null() {
        return false;
    }
    let _aside = ExceptionSetAside::new();
    let mut found = None;
    let active = py::PyObject_GetAttrString(threading, c"_active".as_ptr());
    let key = py::PyLong_FromUnsignedLongLong(ident);
    if !active.is_null() && !key.is_null() && py::PyDict_Check(active) != 0 {
        let thread = py::PyDict_GetItem(active, key);
        if !thread.is_null() {
            py::Py_INCREF(thread);
            found = thread_entry(thread);
            py::Py_DECREF(thread);
        }
    }
    py::Py_XDECREF(key);
    py::Py_XDECREF(active);
    let Some((ident, native, name)) = found else {
        return false;
    };
    note([(ident, native, name, true)]);
    true
}

/// `threading`, if the program imported it (borrowed); null otherwise.
unsafe fn threading_module() -> *mut py::PyObject {
    py::PyDict_GetItemString(py::PyImport_GetModuleDict(), c"threading".as_ptr())
}

/// Adds names found now (ident, native id, name, running) to those seen,
/// or extends when an identical one was seen.
fn note(found: impl IntoIterator<Item = (u64, Option<i64>, String, bool)>) {
    let now = monotonic_ns();
    let mut names = seen_names();
    for (ident, native, name, running) in found {
        let same = |n: &SeenName| {
            n.ident == ident && n.native == native && n.name == name && n.running == running
        };
        if let Some(seen) = names.iter_mut().find(|n| same(n)) {
            seen.seen_to_ns = now;
        } else {
            names.push(SeenName {
                ident,
                native,
                name,
                seen_from_ns: now,
                seen_to_ns: now,
                running,
            });
        }
    }
}

/// Notes the names of the threads `threading` knows now. With the GIL
/// (unsafe for callers that hold it without a [`Gil`], e.g. pending calls).
pub(crate) unsafe fn capture_names() {
    note(known_threads());
}

/// The `threading` names of the threads recorded: those noted while
/// profiling, and those `threading` knows now. None for a thread whose
/// `Thread` object was gone before it could be noted, or that `threading`
/// did not start.
pub fn thread_names<T>(_gil: Gil<'_>, threads: &[ThreadRecording<T>]) -> Vec<Option<String>> {
    unsafe { capture_names() };
    let names = seen_names();
    threads
        .iter()
        .map(|t| {
            // A thread still running when profiling stopped lives on.
            let alive_to = if t.ended { t.last_ns } else { u64::MAX };
            // Before 3.8: a stopped thread's object names it only if no other
            // thread profiled had its ident.
            let unique = threads.iter().filter(|o| o.ident == t.ident).count() == 1;
            names
                .iter()
                .rev()
                .find(|n| {
                    n.ident == t.ident
                        && match n.native {
                            Some(native) => native == t.native_id,
                            None if n.running => {
                                n.seen_to_ns >= t.first_ns && n.seen_from_ns <= alive_to
                            }
                            None => unique,
                        }
                })
                .map(|n| n.name.clone())
        })
        .collect()
}

/// Every `threading.Thread` alive as an object: running ones
/// (`threading._active`) and those still referenced (the weak references
/// of `threading._dangling.data`), read through their instance attributes
/// (`_ident`, `_native_id`, `_name`) so that no Python function runs. With
/// the GIL; the exception state is left as it was.
unsafe fn known_threads() -> Vec<(u64, Option<i64>, String, bool)> {
    let mut found = Vec::new();
    let threading = threading_module();
    if threading.is_null() {
        return found;
    }
    let _aside = ExceptionSetAside::new();
    // With whether it is running (from `_active`).
    let mut objects: Vec<(*mut py::PyObject, bool)> = Vec::new();
    let active = py::PyObject_GetAttrString(threading, c"_active".as_ptr());
    if !active.is_null() && py::PyDict_Check(active) != 0 {
        let mut position: py::Py_ssize_t = 0;
        let (mut key, mut thread) = (std::ptr::null_mut(), std::ptr::null_mut());
        while py::PyDict_Next(active, &mut position, &mut key, &mut thread) != 0 {
            py::Py_INCREF(thread);
            objects.push((thread, true));
        }
    }
    py::Py_XDECREF(active);
    let dangling = py::PyObject_GetAttrString(threading, c"_dangling".as_ptr());
    let data = if dangling.is_null() {
        std::ptr::null_mut()
    } else {
        py::PyObject_GetAttrString(dangling, c"data".as_ptr())
    };
    let iterator = if data.is_null() {
        std::ptr::null_mut()
    } else {
        py::PyObject_GetIter(data)
    };
    if !iterator.is_null() {
        loop {
            let reference = py::PyIter_Next(iterator);
            if reference.is_null() {
                break;
            }
            // Calling a weak reference (C code) gives its object or None.
            let thread = py::PyObject_CallObject(reference, std::ptr::null_mut());
            py::Py_DECREF(reference);
            if !thread.is_null() && thread != py::Py_None() {
                objects.push((thread, false));
            } else {
                py::Py_XDECREF(thread);
            }
        }
    }
    for object in [iterator, data, dangling] {
        py::Py_XDECREF(object);
    }
    py::PyErr_Clear();
    for (thread, running) in objects {
        if let Some((ident, native, name)) = thread_entry(thread) {
            found.push((ident, native, name, running));
        }
        py::Py_DECREF(thread);
        py::PyErr_Clear();
    }
    found
}

/// `Thread`'s private attributes: 2.7 mangles them (`self.__ident`).
#[cfg(py_2_7)]
const ATTRIBUTES: [&std::ffi::CStr; 3] = [c"_Thread__ident", c"_native_id", c"_Thread__name"];
#[cfg(not(py_2_7))]
const ATTRIBUTES: [&std::ffi::CStr; 3] = [c"_ident", c"_native_id", c"_name"];

unsafe fn thread_entry(thread: *mut py::PyObject) -> Option<(u64, Option<i64>, String)> {
    let attribute = |name: &std::ffi::CStr| {
        let value = py::PyObject_GetAttrString(thread, name.as_ptr());
        if value.is_null() {
            py::PyErr_Clear();
        }
        value
    };
    let [ident, native, name] = ATTRIBUTES.map(attribute);
    let mut entry = None;
    if let (Some(ident_value), false) = (integer(ident), name.is_null()) {
        let native_value = integer(native);
        if let Ok(text) = super::native_module::str_of(name) {
            entry = Some((ident_value as u64, native_value, text));
        }
    }
    for object in [ident, native, name] {
        py::Py_XDECREF(object);
    }
    py::PyErr_Clear();
    entry
}

/// An `int` (or 2.7 `long`) attribute's value; None for anything else.
unsafe fn integer(object: *mut py::PyObject) -> Option<i64> {
    if object.is_null() {
        return None;
    }
    #[cfg(py_2_7)]
    if py::PyInt_Check(object) != 0 {
        return Some(py::PyInt_AsLong(object) as i64);
    }
    if py::PyLong_Check(object) == 0 {
        return None;
    }
    // An ident is a `pthread_t`, unsigned: read as such, kept as its bits.
    let value = py::PyLong_AsUnsignedLongLong(object) as i64;
    if py::PyErr_Occurred().is_null() {
        return Some(value);
    }
    py::PyErr_Clear();
    let value = py::PyLong_AsLongLong(object);
    if py::PyErr_Occurred().is_null() {
        Some(value)
    } else {
        py::PyErr_Clear();
        None
    }
}

/// Notes the names of the running threads (`threading._active`) without
/// running any Python code and without making any object the collector
/// tracks, so that it may run on a thread `threading` must never see (the
/// 2.7/3.6 sampling thread, in `ffi::gil_sampler`) and while other threads
/// are stopped: the dicts are read directly (the module's, then each
/// `Thread`'s instance dict, with str keys). Returns the idents seen. With
/// the GIL; the exception state is left as it was.
#[cfg(any(py_2_7, py_3_6))]
pub(crate) unsafe fn note_running_names_quietly() -> Vec<u64> {
    let mut idents = Vec::new();
    let threading = threading_module();
    if threading.is_null() || py::PyModule_Check(threading) == 0 {
        return idents;
    }
    let active = py::PyDict_GetItemString(py::PyModule_GetDict(threading), c"_active".as_ptr());
    if active.is_null() || py::PyDict_Check(active) == 0 {
        return idents;
    }
    let _aside = ExceptionSetAside::new();
    let mut found = Vec::new();
    let mut position: py::Py_ssize_t = 0;
    let (mut key, mut thread) = (std::ptr::null_mut(), std::ptr::null_mut());
    while py::PyDict_Next(active, &mut position, &mut key, &mut thread) != 0 {
        let dict = _PyObject_GetDictPtr(thread);
        if dict.is_null() || (*dict).is_null() || py::PyDict_Check(*dict) == 0 {
            continue;
        }
        // Borrowed references: the dict is not changed while we read it.
        let [ident, native, name] =
            ATTRIBUTES.map(|attribute| py::PyDict_GetItemString(*dict, attribute.as_ptr()));
        if let (Some(ident), false) = (integer(ident), name.is_null()) {
            if let Ok(text) = super::native_module::str_of(name) {
                found.push((ident as u64, integer(native), text, true));
                idents.push(ident as u64);
            }
        }
        py::PyErr_Clear();
    }
    note(found);
    idents
}

#[cfg(any(py_2_7, py_3_6))]
extern "C" {
    /// Where an instance keeps its `__dict__` (exported by 2.7 and 3.6).
    fn _PyObject_GetDictPtr(object: *mut py::PyObject) -> *mut *mut py::PyObject;
}
