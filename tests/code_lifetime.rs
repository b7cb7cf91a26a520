//! The code object deallocation count (`ffi::code_lifetime`) that lets the
//! recorder trust frames it has proven: it must count every code object
//! freed, on every Python version we link (2.7 included).

use pyinstrument::ffi::code_lifetime::{count_code_deallocations, freed_code_objects};
use pyinstrument::ffi::py;
use std::ffi::CString;

unsafe fn compile(source: &str, file: &str) -> *mut py::PyObject {
    let source = CString::new(source).unwrap();
    let file = CString::new(file).unwrap();
    #[cfg(feature = "python27")]
    return py::Py_CompileStringFlags(
        source.as_ptr(),
        file.as_ptr(),
        py::Py_file_input,
        std::ptr::null_mut(),
    );
    #[cfg(not(feature = "python27"))]
    return py::Py_CompileString(source.as_ptr(), file.as_ptr(), py::Py_file_input);
}

#[test]
fn every_freed_code_object_is_counted() {
    unsafe {
        py::Py_InitializeEx(0);
        assert_eq!(freed_code_objects(), None, "not counting before it starts");
        count_code_deallocations();
        count_code_deallocations(); // idempotent: wraps the slot once
        let before = freed_code_objects().expect("counting has started");
        let mut codes = Vec::new();
        for i in 0..10 {
            // A module's code object and its function's (a constant).
            let code = compile("def f():\n    return 1\n", &format!("counted{i}.py"));
            assert!(!code.is_null());
            codes.push(code);
        }
        let created = freed_code_objects().unwrap();
        for code in codes {
            py::Py_DecRef(code);
        }
        let after = freed_code_objects().unwrap();
        // A garbage collection could free others meanwhile, never fewer;
        // wrapped twice, each would count double.
        assert!(after - created >= 20, "{before} -> {created} -> {after}");
        assert!(after - created < 40, "counted twice: {created} -> {after}");
    }
}
