//! Python objects seen from Rust: an owned reference, and the conversions
//! between Rust values and Python objects the runner needs. The caller holds
//! the GIL (every public entry point that creates objects takes a `Gil`).
//!
//! A `PyRef<'py>` is bound to the `Gil<'py>` span it was made in, so it
//! cannot be used or dropped (a decref) after that span: the compiler
//! refuses. What must outlive one span (the runner's bootstrap namespace,
//! kept from start-up to the atexit handler) is `unbind`-ed into a
//! `HeldRef`, which gives nothing without a `Gil` to `bind` it to again.

use super::errors::{outcome, pending_exception_kind, Outcome};
#[cfg(not(py_2_7))]
use super::startup::c_bytes;
use crate::ffi::gil::Gil;
use crate::ffi::py;
use std::ffi::{CStr, OsStr};
use std::marker::PhantomData;
use std::os::raw::c_char;
use std::os::unix::ffi::OsStrExt;
use std::ptr::NonNull;

/// A strong reference to a Python object, released on drop, usable only
/// within the GIL span `'py` it was made in (see the module comment).
pub struct PyRef<'py> {
    object: NonNull<py::PyObject>,
    _gil: PhantomData<Gil<'py>>,
}

/// A strong reference kept across GIL spans: nothing can be done with it
/// but `bind` it to a `Gil` again. Dropping one unbound leaks the reference
/// (releasing it needs the GIL, which a drop cannot prove); the runner
/// binds and drops its own before the interpreter ends.
pub struct HeldRef(NonNull<py::PyObject>);

impl HeldRef {
    pub fn bind(self, _gil: Gil<'_>) -> PyRef<'_> {
        PyRef {
            object: self.0,
            _gil: PhantomData,
        }
    }
}

impl<'py> PyRef<'py> {
    /// Takes ownership of a new reference (`None` for null). Callers inside
    /// `ffi` hold the GIL for `'py`.
    pub(in crate::ffi) fn from_owned(ptr: *mut py::PyObject) -> Option<PyRef<'py>> {
        NonNull::new(ptr).map(|object| PyRef {
            object,
            _gil: PhantomData,
        })
    }

    /// Keeps the reference past this GIL span (see `HeldRef`).
    pub fn unbind(self) -> HeldRef {
        let object = self.object;
        std::mem::forget(self);
        HeldRef(object)
    }

    pub(crate) fn as_ptr(&self) -> *mut py::PyObject {
        self.object.as_ptr()
    }

    /// `str(obj)` as a Rust string; None if that raised (the error is cleared).
    pub fn to_string_lossy(&self) -> Option<String> {
        unsafe {
            let text: Option<PyRef<'py>> = PyRef::from_owned(py::PyObject_Str(self.as_ptr()));
            match text {
                Some(text) => utf8_of(text.as_ptr()),
                None => {
                    py::PyErr_Clear();
                    None
                }
            }
        }
    }

    /// The object as a list of strings (for `sys.path`-like values).
    pub fn to_string_list(&self) -> Vec<String> {
        let mut items = Vec::new();
        unsafe {
            let iter: PyRef<'py> = match PyRef::from_owned(py::PyObject_GetIter(self.as_ptr())) {
                Some(iter) => iter,
                None => {
                    py::PyErr_Clear();
                    return items;
                }
            };
            while let Some(item) = PyRef::<'py>::from_owned(py::PyIter_Next(iter.as_ptr())) {
                if let Some(text) = item.to_string_lossy() {
                    items.push(text);
                }
            }
            py::PyErr_Clear();
        }
        items
    }

    pub fn is_true(&self) -> bool {
        unsafe { py::PyObject_IsTrue(self.as_ptr()) == 1 }
    }
}

impl Drop for PyRef<'_> {
    fn drop(&mut self) {
        unsafe { py::Py_DECREF(self.object.as_ptr()) }
    }
}

#[cfg(py_2_7)]
pub(super) unsafe fn utf8_of(obj: *mut py::PyObject) -> Option<String> {
    // 2.7: `str()` gives a byte string.
    let data = py::PyString_AsString(obj);
    if data.is_null() {
        py::PyErr_Clear();
        return None;
    }
    Some(CStr::from_ptr(data).to_string_lossy().into_owned())
}

#[cfg(not(py_2_7))]
pub(super) unsafe fn utf8_of(obj: *mut py::PyObject) -> Option<String> {
    let data = py::PyUnicode_AsUTF8(obj);
    if data.is_null() {
        py::PyErr_Clear();
        return None;
    }
    Some(CStr::from_ptr(data).to_string_lossy().into_owned())
}

/// A native `str` from UTF-8 text (bytes on 2.7).
pub(crate) unsafe fn new_str(text: &str) -> *mut py::PyObject {
    #[cfg(py_2_7)]
    return py::PyString_FromStringAndSize(
        text.as_ptr() as *const c_char,
        text.len() as py::Py_ssize_t,
    );
    #[cfg(not(py_2_7))]
    return py::PyUnicode_FromStringAndSize(
        text.as_ptr() as *const c_char,
        text.len() as py::Py_ssize_t,
    );
}

/// A native `str` from command-line bytes, as python makes its `sys.argv`
/// items of them (see `leak_wide`): on 3.x decoded with `Py_DecodeLocale`,
/// on 2.7 the bytes. Null, with an exception set, if that fails.
pub(super) unsafe fn new_str_from_command_line(bytes: &[u8]) -> *mut py::PyObject {
    #[cfg(py_2_7)]
    return py::PyString_FromStringAndSize(
        bytes.as_ptr() as *const c_char,
        bytes.len() as py::Py_ssize_t,
    );
    #[cfg(not(py_2_7))]
    {
        let c_text = c_bytes(bytes);
        let wide = py::Py_DecodeLocale(c_text.as_ptr(), std::ptr::null_mut());
        if wide.is_null() {
            return py::PyErr_NoMemory();
        }
        let text = py::PyUnicode_FromWideChar(wide, libc::wcslen(wide) as py::Py_ssize_t);
        py::PyMem_RawFree(wide as *mut libc::c_void);
        text
    }
}

/// An argument passed from Rust to a Python function.
pub enum Arg<'a> {
    Str(&'a str),
    /// Bytes from the command line (a script path, a module name), made a
    /// `str` the way python makes `sys.argv` items.
    CommandLine(&'a OsStr),
    Int(i64),
    Bool(bool),
    Object(&'a PyRef<'a>),
}

fn arg_to_object<'py>(_gil: Gil<'py>, arg: &Arg) -> Option<PyRef<'py>> {
    unsafe {
        let ptr = match arg {
            Arg::Str(text) => new_str(text),
            Arg::CommandLine(bytes) => new_str_from_command_line(bytes.as_bytes()),
            Arg::Int(value) => py::PyLong_FromLongLong(*value),
            Arg::Bool(value) => py::PyBool_FromLong(*value as libc::c_long),
            Arg::Object(obj) => {
                py::Py_INCREF(obj.as_ptr());
                obj.as_ptr()
            }
        };
        PyRef::from_owned(ptr)
    }
}

/// The arguments as a new tuple, for calling a Python function with.
pub(super) fn args_tuple<'py>(gil: Gil<'py>, args: &[Arg]) -> Outcome<'py> {
    unsafe {
        let tuple = outcome(gil, py::PyTuple_New(args.len() as py::Py_ssize_t))?;
        for (index, arg) in args.iter().enumerate() {
            let item = arg_to_object(gil, arg).ok_or_else(pending_exception_kind)?;
            // PyTuple_SetItem steals the reference.
            py::PyTuple_SetItem(tuple.as_ptr(), index as py::Py_ssize_t, item.as_ptr());
            std::mem::forget(item);
        }
        Ok(tuple)
    }
}
