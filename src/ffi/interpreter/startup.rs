//! Start-up configuration: the program name, `sys.argv`, built-in modules,
//! and python's own command-line start-up (PEP 587, 3.8+) or, before it,
//! the flags python's `main()` sets from the environment.

use crate::ffi::gil::Gil;
use crate::ffi::py;
use std::ffi::{CStr, CString, OsString};
#[cfg(py_2_7)]
use std::os::raw::c_char;
use std::os::raw::c_int;
use std::os::unix::ffi::OsStrExt;

/// The character type of CPython's start-up functions (program name, argv).
#[cfg(py_2_7)]
type ArgChar = c_char;
#[cfg(not(py_2_7))]
type ArgChar = libc::wchar_t;

/// A C string of `bytes`, as a C `argv` would hold them (which cannot hold
/// NUL: any is dropped).
pub(super) fn c_bytes(bytes: &[u8]) -> CString {
    let without_nul: Vec<u8> = bytes.iter().copied().filter(|&b| b != 0).collect();
    CString::new(without_nul).unwrap_or_default()
}

/// Converts command-line bytes to the string type CPython's start-up
/// functions take: on 3.x decoded as python's own `main()` decodes its
/// argv (`Py_DecodeLocale`: the locale's encoding, surrogateescape for
/// bytes it cannot decode), on 2.7 the bytes themselves. Null if they
/// cannot be decoded (out of memory). The allocation is deliberately
/// leaked: CPython keeps pointers to program name and argv for the
/// interpreter's whole life.
fn leak_wide(bytes: &[u8]) -> *mut ArgChar {
    let c_text = c_bytes(bytes);
    #[cfg(py_2_7)]
    return c_text.into_raw();
    #[cfg(not(py_2_7))]
    unsafe {
        let wide = py::Py_DecodeLocale(c_text.as_ptr(), std::ptr::null_mut());
        wide as *mut libc::wchar_t
    }
}

/// The interpreter's notion of where it lives comes from the program name:
/// pointing it at a virtualenv's `python3` makes `sys.prefix`,
/// `sys.executable` and site-packages those of that virtualenv, exactly as
/// running that `python3` would. Must be called before `initialize`.
pub fn set_program_name(path: &str) {
    let wide = leak_wide(path.as_bytes());
    if !wide.is_null() {
        #[allow(deprecated)]
        unsafe {
            py::Py_SetProgramName(wide)
        }
    }
}

/// Signature of a built-in module's init function (`PyInit_<name>`; on 2.7
/// `init<name>`, which returns nothing).
#[cfg(not(py_2_7))]
pub type ModuleInit = unsafe extern "C" fn() -> *mut py::PyObject;
#[cfg(py_2_7)]
pub type ModuleInit = unsafe extern "C" fn();

/// Makes `name` importable as a built-in module. Must be called before
/// `initialize`.
pub fn register_builtin_module(name: &'static CStr, init: ModuleInit) {
    unsafe {
        py::PyImport_AppendInittab(name.as_ptr(), Some(init));
    }
}

/// Sets `sys.argv` from command-line bytes, decoded as python decodes its
/// own (see `leak_wide`), and with `update_path`, `sys.path[0]` the way
/// `python` computes it from argv[0]. Call after `initialize`, which sets
/// the locale python decodes with. Fails, naming the argument, if one
/// cannot be decoded.
pub fn set_argv(_gil: Gil<'_>, argv: &[OsString], update_path: bool) -> Result<(), String> {
    let mut wide: Vec<*mut ArgChar> = Vec::with_capacity(argv.len());
    for arg in argv {
        let converted = leak_wide(arg.as_bytes());
        if converted.is_null() {
            return Err(format!(
                "cannot decode the command-line argument '{}'",
                arg.to_string_lossy()
            ));
        }
        wide.push(converted);
    }
    #[allow(deprecated)]
    unsafe {
        py::PySys_SetArgvEx(wide.len() as c_int, wide.as_mut_ptr(), update_path as c_int);
    }
    // The vector of pointers is copied by CPython; the strings stay leaked.
    Ok(())
}

#[cfg(py_run_main)]
mod run_main {
    use std::ffi::{c_char, c_int, c_void, CString, OsString};
    use std::os::unix::ffi::OsStrExt;

    /// `PyStatus` (PEP 587, 3.8+): what the configuration functions return,
    /// by value. The same in 3.8-3.15.
    #[repr(C)]
    #[derive(Clone, Copy)]
    pub struct PyStatus {
        pub _type: std::ffi::c_int,
        pub func: *const std::ffi::c_char,
        pub err_msg: *const std::ffi::c_char,
        pub exitcode: std::ffi::c_int,
    }

    /// Room for a `PyConfig`, which we only ever pass to CPython's functions
    /// (360 to 448 bytes in 3.8-3.13; the probe checks every minor).
    #[repr(C, align(16))]
    pub struct PyConfigStorage(pub [u8; 4096]);

    /// What the offset probe (`tests/ffi_offsets.rs`, through
    /// `ffi::layout::all_offsets`) checks of the two against the headers.
    pub const STARTUP_OFFSETS: &[(&str, usize)] = &[
        ("sizeof(PyStatus)", std::mem::size_of::<PyStatus>()),
        (
            "PyStatus.exitcode",
            std::mem::offset_of!(PyStatus, exitcode),
        ),
        (
            "sizeof(PyConfig) <= 4096",
            (std::mem::size_of::<PyConfigStorage>() >= 4096) as usize,
        ),
    ];

    extern "C" {
        fn PyConfig_InitPythonConfig(config: *mut c_void);
        fn PyConfig_SetBytesArgv(
            config: *mut c_void,
            argc: isize,
            argv: *const *mut c_char,
        ) -> PyStatus;
        fn PyConfig_Clear(config: *mut c_void);
        fn Py_InitializeFromConfig(config: *const c_void) -> PyStatus;
        fn PyStatus_Exception(status: PyStatus) -> c_int;
        fn Py_ExitStatusException(status: PyStatus) -> !;
        fn Py_RunMain() -> c_int;
    }

    /// Starts the interpreter from `argv` exactly as `python` parses its own
    /// command line (PEP 587's "Python Configuration"): the same environment
    /// variables, locale coercion, UTF-8 mode, `sys.orig_argv`, `sys.flags`.
    /// The arguments are the bytes python's `main()` would get: CPython
    /// decodes them itself, as it decodes its own (surrogateescape for
    /// bytes the locale cannot decode). `argv[0]` is the python executable
    /// the program should see. An invalid configuration is reported and
    /// exits as python would.
    pub fn initialize_from_command_line(argv: &[OsString]) -> crate::ffi::interpreter::Interpreter {
        let c_args: Vec<CString> = argv.iter().map(|a| super::c_bytes(a.as_bytes())).collect();
        let pointers: Vec<*mut c_char> = c_args.iter().map(|a| a.as_ptr() as *mut c_char).collect();
        let mut storage = Box::new(PyConfigStorage([0; 4096]));
        let config = storage.0.as_mut_ptr() as *mut c_void;
        unsafe {
            PyConfig_InitPythonConfig(config);
            let status = PyConfig_SetBytesArgv(config, pointers.len() as isize, pointers.as_ptr());
            if PyStatus_Exception(status) != 0 {
                PyConfig_Clear(config);
                Py_ExitStatusException(status);
            }
            let status = Py_InitializeFromConfig(config);
            PyConfig_Clear(config);
            if PyStatus_Exception(status) != 0 {
                Py_ExitStatusException(status);
            }
        }
        crate::ffi::interpreter::Interpreter::started()
    }

    /// Runs what the command line says (script, `-m` module, ...) the way
    /// `python` does, then finalizes the interpreter; returns python's exit
    /// status. Dies of SIGINT after an uncaught KeyboardInterrupt, as python.
    pub fn run_main(_interpreter: crate::ffi::interpreter::Interpreter) -> i32 {
        unsafe { Py_RunMain() }
    }
}

#[cfg(py_run_main)]
pub use run_main::{initialize_from_command_line, run_main, STARTUP_OFFSETS};

/// Sets the start-up flags python's command line would set from the
/// environment, for interpreters started the legacy way (2.7, 3.6, 3.7),
/// where `Py_Initialize` does not read them itself.
#[cfg(not(py_run_main))]
pub fn apply_legacy_environment_flags() {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    unsafe {
        #[cfg(not(py_2_7))]
        if set("PYTHONUNBUFFERED") {
            py::Py_UnbufferedStdioFlag = 1;
        }
        // 2.7's sys.stdout writes through C stdio, which its Py_Main makes
        // unbuffered itself.
        #[cfg(py_2_7)]
        if set("PYTHONUNBUFFERED") {
            extern "C" {
                static mut stdin: *mut libc::FILE;
                static mut stdout: *mut libc::FILE;
                static mut stderr: *mut libc::FILE;
            }
            for stream in [stdin, stdout, stderr] {
                libc::setvbuf(
                    stream,
                    std::ptr::null_mut(),
                    libc::_IONBF,
                    libc::BUFSIZ as usize,
                );
            }
        }
        if set("PYTHONNOUSERSITE") {
            py::Py_NoUserSiteDirectory = 1;
        }
    }
    if let Ok(warnings) = std::env::var("PYTHONWARNINGS") {
        for option in warnings.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            add_warn_option(option);
        }
    }
}

#[cfg(all(not(py_run_main), py_2_7))]
fn add_warn_option(option: &str) {
    let option = CString::new(option).unwrap_or_default();
    unsafe { py::PySys_AddWarnOption(option.into_raw()) }
}

#[cfg(all(not(py_run_main), not(py_2_7)))]
fn add_warn_option(option: &str) {
    let wide = leak_wide(option.as_bytes());
    if !wide.is_null() {
        unsafe { py::PySys_AddWarnOption(wide) }
    }
}
