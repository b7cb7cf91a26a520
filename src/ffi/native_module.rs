//! A Python module whose functions are plain Rust functions taking and
//! returning simple values. Used for `_pyinstrument`, the native half of the
//! `pyinstrument` package, both as a built-in module of the runner and as an
//! extension module in an ordinary `python` process.
//!
//! Every function shares one C trampoline; the Rust function it calls rides
//! in the `self` slot of the built-in function object, as a capsule.

use super::gil::Gil;
use super::py;
use std::ffi::CStr;
use std::os::raw::{c_char, c_void};

/// A Python value crossing into or out of a native function.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    StrList(Vec<String>),
    /// Returned only: `bytes` (`str` on Python 2).
    Bytes(Vec<u8>),
}

/// The exception a native function raises.
#[derive(Debug, Clone, PartialEq)]
pub enum Raise {
    RuntimeError(String),
    ValueError(String),
    TypeError(String),
}

/// A native function: called by Python with the GIL held, which the
/// [`Gil`] it is given stands for, for the duration of the call.
pub type NativeFn = fn(Gil<'_>, &[Value]) -> Result<Value, Raise>;

pub struct Function {
    pub name: &'static CStr,
    pub doc: &'static CStr,
    pub call: NativeFn,
}

pub type ModulePtr = *mut py::PyObject;

const FUNCTION_CAPSULE: &CStr = c"pyinstrument.native_function";

unsafe fn to_value(obj: *mut py::PyObject) -> Result<Value, Raise> {
    if obj == py::Py_None() {
        return Ok(Value::None);
    }
    if py::PyBool_Check(obj) != 0 {
        return Ok(Value::Bool(obj == py::Py_True()));
    }
    #[cfg(py_2_7)]
    if py::PyInt_Check(obj) != 0 {
        return Ok(Value::Int(py::PyInt_AsLong(obj) as i64));
    }
    #[cfg(py_2_7)]
    if py::PyString_Check(obj) != 0 {
        return str_of(obj).map(Value::Str);
    }
    if py::PyLong_Check(obj) != 0 {
        let value = py::PyLong_AsLongLong(obj);
        if value == -1 && !py::PyErr_Occurred().is_null() {
            py::PyErr_Clear();
            return Err(Raise::ValueError("integer out of range".to_string()));
        }
        return Ok(Value::Int(value));
    }
    if py::PyFloat_Check(obj) != 0 {
        return Ok(Value::Float(py::PyFloat_AsDouble(obj)));
    }
    if py::PyUnicode_Check(obj) != 0 {
        return str_of(obj).map(Value::Str);
    }
    if py::PyList_Check(obj) != 0 || py::PyTuple_Check(obj) != 0 {
        let sequence = py::PySequence_Fast(obj, c"expected a sequence".as_ptr());
        if sequence.is_null() {
            py::PyErr_Clear();
            return Err(Raise::TypeError("expected a list of strings".to_string()));
        }
        let count = py::PySequence_Size(sequence);
        let mut items = Vec::with_capacity(count.max(0) as usize);
        for index in 0..count {
            let item = py::PySequence_GetItem(sequence, index);
            let text = if item.is_null() || !is_text(item) {
                None
            } else {
                str_of(item).ok()
            };
            if !item.is_null() {
                py::Py_DECREF(item);
            }
            match text {
                Some(text) => items.push(text),
                None => {
                    py::PyErr_Clear();
                    py::Py_DECREF(sequence);
                    return Err(Raise::TypeError("expected a list of strings".to_string()));
                }
            }
        }
        py::Py_DECREF(sequence);
        return Ok(Value::StrList(items));
    }
    Err(Raise::TypeError("unsupported argument type".to_string()))
}

unsafe fn is_text(obj: *mut py::PyObject) -> bool {
    #[cfg(py_2_7)]
    if py::PyString_Check(obj) != 0 {
        return true;
    }
    py::PyUnicode_Check(obj) != 0
}

pub(super) unsafe fn str_of(obj: *mut py::PyObject) -> Result<String, Raise> {
    #[cfg(py_2_7)]
    if py::PyString_Check(obj) != 0 {
        let data = py::PyString_AsString(obj);
        let size = py::PyString_Size(obj);
        return Ok(String::from_utf8_lossy(std::slice::from_raw_parts(
            data as *const u8,
            size as usize,
        ))
        .into_owned());
    }
    // Surrogates (from undecodable file names) become U+FFFD rather than an error.
    #[cfg(py_2_7)]
    let bytes = py::PyUnicode_AsUTF8String(obj);
    #[cfg(not(py_2_7))]
    let bytes = py::PyUnicode_AsEncodedString(obj, c"utf-8".as_ptr(), c"replace".as_ptr());
    if bytes.is_null() {
        py::PyErr_Clear();
        return Err(Raise::ValueError("cannot encode string".to_string()));
    }
    let data = py::PyBytes_AsString(bytes);
    let size = py::PyBytes_Size(bytes);
    let text =
        String::from_utf8_lossy(std::slice::from_raw_parts(data as *const u8, size as usize))
            .into_owned();
    py::Py_DECREF(bytes);
    Ok(text)
}

unsafe fn from_value(value: Value) -> *mut py::PyObject {
    match value {
        Value::None => {
            let none = py::Py_None();
            py::Py_INCREF(none);
            none
        }
        Value::Bool(b) => py::PyBool_FromLong(b as libc::c_long),
        Value::Int(i) => py::PyLong_FromLongLong(i),
        Value::Float(f) => py::PyFloat_FromDouble(f),
        Value::Str(s) => super::interpreter::new_str(&s),
        Value::Bytes(bytes) => py::PyBytes_FromStringAndSize(
            bytes.as_ptr() as *const libc::c_char,
            bytes.len() as py::Py_ssize_t,
        ),
        Value::StrList(items) => {
            let list = py::PyList_New(0);
            if list.is_null() {
                return list;
            }
            for item in items {
                let text = from_value(Value::Str(item));
                if text.is_null() {
                    py::Py_DECREF(list);
                    return std::ptr::null_mut();
                }
                py::PyList_Append(list, text);
                py::Py_DECREF(text);
            }
            list
        }
    }
}

unsafe fn raise(error: Raise) -> *mut py::PyObject {
    let (kind, message) = match error {
        Raise::RuntimeError(m) => (py::PyExc_RuntimeError, m),
        Raise::ValueError(m) => (py::PyExc_ValueError, m),
        Raise::TypeError(m) => (py::PyExc_TypeError, m),
    };
    let message = std::ffi::CString::new(message.replace('\0', " ")).unwrap_or_default();
    py::PyErr_SetString(kind, message.as_ptr());
    std::ptr::null_mut()
}

unsafe extern "C" fn trampoline(
    slf: *mut py::PyObject,
    args: *mut py::PyObject,
) -> *mut py::PyObject {
    let function = py::PyCapsule_GetPointer(slf, FUNCTION_CAPSULE.as_ptr()) as *const Function;
    if function.is_null() {
        return std::ptr::null_mut();
    }
    let count = py::PyTuple_Size(args);
    let mut values = Vec::with_capacity(count.max(0) as usize);
    for index in 0..count {
        match to_value(py::PyTuple_GetItem(args, index)) {
            Ok(value) => values.push(value),
            Err(error) => return raise(error),
        }
    }
    let call = (*function).call;
    // Python calls a built-in function's C code with the GIL held.
    let gil = Gil::assume_held();
    match std::panic::catch_unwind(|| call(gil, &values)) {
        Ok(Ok(value)) => from_value(value),
        Ok(Err(error)) => raise(error),
        Err(_) => raise(Raise::RuntimeError(
            "internal error in pyinstrument's native module".to_string(),
        )),
    }
}

/// Creates the module `name` holding `functions`. Returns null with an
/// exception set on failure, as a module init function must.
pub fn create_module(
    name: &'static CStr,
    doc: &'static CStr,
    functions: &'static [Function],
) -> ModulePtr {
    unsafe {
        let module = new_module(name, doc);
        if module.is_null() {
            return module;
        }
        if add_functions(module, name, functions) {
            module
        } else {
            release_module(module);
            std::ptr::null_mut()
        }
    }
}

/// The functions as a module object that no import can find: only the
/// caller holds it. (The runner hands its end-of-run hook to its bootstrap
/// this way, so that the program, which may import `_pyinstrument`, cannot
/// reach it.) None, with the exception pending, on failure.
pub fn private_module<'py>(
    _gil: Gil<'py>,
    name: &'static CStr,
    doc: &'static CStr,
    functions: &'static [Function],
) -> Option<super::interpreter::PyRef<'py>> {
    let module = create_module(name, doc, functions);
    #[cfg(py_2_7)]
    unsafe {
        // Py_InitModule4 lent its reference and entered it in sys.modules.
        if !module.is_null() {
            py::Py_INCREF(module);
            if py::PyDict_DelItemString(py::PyImport_GetModuleDict(), name.as_ptr()) != 0 {
                py::PyErr_Clear();
            }
        }
    }
    super::interpreter::PyRef::from_owned(module)
}

#[cfg(py_2_7)]
unsafe fn new_module(name: &'static CStr, doc: &'static CStr) -> *mut py::PyObject {
    // Py_InitModule4 returns a borrowed reference, and registers the module.
    py::Py_InitModule4(
        name.as_ptr(),
        std::ptr::null_mut(),
        doc.as_ptr(),
        std::ptr::null_mut(),
        py::PYTHON_API_VERSION,
    )
}

#[cfg(py_2_7)]
unsafe fn release_module(_module: *mut py::PyObject) {}

#[cfg(not(py_2_7))]
unsafe fn release_module(module: *mut py::PyObject) {
    py::Py_DECREF(module);
}

#[cfg(not(py_2_7))]
unsafe fn new_module(name: &'static CStr, doc: &'static CStr) -> *mut py::PyObject {
    {
        let definition = Box::leak(Box::new(py::PyModuleDef {
            m_base: py::PyModuleDef_HEAD_INIT,
            m_name: name.as_ptr(),
            m_doc: doc.as_ptr(),
            m_size: -1,
            m_methods: std::ptr::null_mut(),
            m_slots: std::ptr::null_mut(),
            m_traverse: None,
            m_clear: None,
            m_free: None,
        }));
        py::PyModule_Create2(definition, py::PYTHON_API_VERSION)
    }
}

/// Adds each function to `module`; false (with an exception set) on failure.
unsafe fn add_functions(
    module: *mut py::PyObject,
    name: &'static CStr,
    functions: &'static [Function],
) -> bool {
    {
        let module_name = super::interpreter::new_str(name.to_str().unwrap_or("_pyinstrument"));
        for function in functions {
            let method = Box::leak(Box::new(py::PyMethodDef {
                ml_name: function.name.as_ptr(),
                ml_meth: Some(trampoline),
                ml_flags: py::METH_VARARGS,
                ml_doc: function.doc.as_ptr(),
            }));
            let capsule = py::PyCapsule_New(
                function as *const Function as *mut c_void,
                FUNCTION_CAPSULE.as_ptr(),
                None,
            );
            if capsule.is_null() {
                return false;
            }
            let callable = py::PyCFunction_NewEx(method, capsule, module_name);
            py::Py_DECREF(capsule);
            if callable.is_null()
                || py::PyModule_AddObject(module, function.name.as_ptr() as *mut c_char, callable)
                    != 0
            {
                return false;
            }
        }
        if !module_name.is_null() {
            py::Py_DECREF(module_name);
        }
        true
    }
}
