//! Running Python code: our bootstrap namespace, the program's `__main__`,
//! a module's function called from C, the standard streams.

use super::errors::{outcome, pending_exception_kind, preserving_pending_exception, Outcome};
use super::object::{args_tuple, Arg, PyRef};
use crate::ffi::gil::Gil;
use crate::ffi::py;
use std::ffi::CString;
use std::os::raw::c_char;

/// Runs `source` as a fresh module-like namespace named `filename` and
/// returns that namespace (a dict), so its functions can be called.
pub fn exec_in_new_namespace<'py>(gil: Gil<'py>, source: &str, filename: &str) -> Outcome<'py> {
    let c_source = CString::new(source).expect("bootstrap source has no NUL");
    let c_filename = CString::new(filename).expect("filename has no NUL");
    unsafe {
        let code = outcome(gil, compile_string(c_source.as_ptr(), c_filename.as_ptr()))?;
        let namespace = outcome(gil, py::PyDict_New())?;
        let builtins = py::PyEval_GetBuiltins();
        py::PyDict_SetItemString(namespace.as_ptr(), c"__builtins__".as_ptr(), builtins);
        let _ = outcome(gil, eval_code(code.as_ptr(), namespace.as_ptr()))?;
        Ok(namespace)
    }
}

unsafe fn compile_string(source: *const c_char, filename: *const c_char) -> *mut py::PyObject {
    #[cfg(py_2_7)]
    return py::Py_CompileStringFlags(source, filename, py::Py_file_input, std::ptr::null_mut());
    #[cfg(not(py_2_7))]
    return py::Py_CompileString(source, filename, py::Py_file_input);
}

unsafe fn eval_code(code: *mut py::PyObject, globals: *mut py::PyObject) -> *mut py::PyObject {
    #[cfg(py_2_7)]
    return py::PyEval_EvalCode(code as *mut py::PyCodeObject, globals, globals);
    #[cfg(not(py_2_7))]
    return py::PyEval_EvalCode(code, globals, globals);
}

/// Calls `namespace[name](*args)`.
pub fn call_in_namespace<'py>(
    gil: Gil<'py>,
    namespace: &PyRef<'py>,
    name: &str,
    args: &[Arg],
) -> Outcome<'py> {
    let c_name = CString::new(name).expect("function name has no NUL");
    unsafe {
        let function = py::PyDict_GetItemString(namespace.as_ptr(), c_name.as_ptr());
        if function.is_null() {
            panic!("bootstrap function {name} is missing");
        }
        let tuple = args_tuple(gil, args)?;
        outcome(
            gil,
            py::PyObject_Call(function, tuple.as_ptr(), std::ptr::null_mut()),
        )
    }
}

/// Runs a code object in the namespace of the real `__main__` module, as
/// `python script.py` does, so tracebacks start at the script's own frames.
pub fn eval_in_main<'py>(gil: Gil<'py>, code: &PyRef<'py>) -> Outcome<'py> {
    unsafe {
        let main = py::PyImport_AddModule(c"__main__".as_ptr()); // borrowed
        if main.is_null() {
            return Err(pending_exception_kind());
        }
        let globals = py::PyModule_GetDict(main); // borrowed
        outcome(gil, eval_code(code.as_ptr(), globals))
    }
}

/// Flushes `sys.stderr` then `sys.stdout`, ignoring errors, as CPython's
/// `flush_io` does when the main module's code returns or raises. A
/// pending exception is kept.
pub fn flush_std_streams(gil: Gil<'_>) {
    preserving_pending_exception(gil, || unsafe {
        for name in [c"stderr", c"stdout"] {
            let stream = py::PySys_GetObject(name.as_ptr() as *mut c_char); // borrowed
            if !stream.is_null() {
                let result = py::PyObject_CallMethod(
                    stream,
                    c"flush".as_ptr() as *mut c_char,
                    std::ptr::null_mut(),
                );
                if result.is_null() {
                    py::PyErr_Clear();
                } else {
                    py::Py_DECREF(result);
                }
            }
        }
    })
}

/// `namespace[name]`, if present.
pub fn namespace_get<'py>(
    _gil: Gil<'py>,
    namespace: &PyRef<'py>,
    name: &str,
) -> Option<PyRef<'py>> {
    let c_name = CString::new(name).ok()?;
    unsafe {
        let item = py::PyDict_GetItemString(namespace.as_ptr(), c_name.as_ptr()); // borrowed
        if item.is_null() {
            return None;
        }
        py::Py_INCREF(item);
        PyRef::from_owned(item)
    }
}

/// `import module; module.function(*args)`, called from C so that no frame
/// of ours sits under it in a traceback (as `python -m` calls runpy).
pub fn import_and_call<'py>(
    gil: Gil<'py>,
    module: &str,
    function: &str,
    args: &[Arg],
) -> Outcome<'py> {
    let c_module = CString::new(module).expect("module name has no NUL");
    let c_function = CString::new(function).expect("function name has no NUL");
    unsafe {
        let module = outcome(gil, py::PyImport_ImportModule(c_module.as_ptr()))?;
        let function = outcome(
            gil,
            py::PyObject_GetAttrString(module.as_ptr(), c_function.as_ptr()),
        )?;
        let tuple = args_tuple(gil, args)?;
        outcome(
            gil,
            py::PyObject_Call(function.as_ptr(), tuple.as_ptr(), std::ptr::null_mut()),
        )
    }
}
