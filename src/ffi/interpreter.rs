//! Owning the embedded interpreter: start it the way `python` would, run code
//! in it, and shut it down. Everything here runs on the main thread with the
//! GIL held (the interpreter is ours alone between `initialize` and
//! `finalize`), which is what makes the safe wrappers sound.

use super::gil::Gil;
use super::py;
use std::ffi::{CStr, CString, OsStr, OsString};
use std::os::raw::{c_char, c_int};
use std::os::unix::ffi::OsStrExt;
use std::ptr::NonNull;

/// A strong reference to a Python object, released on drop. Only created and
/// dropped while the GIL is held.
pub struct PyRef(NonNull<py::PyObject>);

impl PyRef {
    pub(crate) fn from_owned(ptr: *mut py::PyObject) -> Option<PyRef> {
        NonNull::new(ptr).map(PyRef)
    }

    pub(crate) fn as_ptr(&self) -> *mut py::PyObject {
        self.0.as_ptr()
    }

    /// `str(obj)` as a Rust string; None if that raised (the error is cleared).
    pub fn to_string_lossy(&self) -> Option<String> {
        unsafe {
            let text = PyRef::from_owned(py::PyObject_Str(self.as_ptr()));
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
            let iter = match PyRef::from_owned(py::PyObject_GetIter(self.as_ptr())) {
                Some(iter) => iter,
                None => {
                    py::PyErr_Clear();
                    return items;
                }
            };
            while let Some(item) = PyRef::from_owned(py::PyIter_Next(iter.as_ptr())) {
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

impl Drop for PyRef {
    fn drop(&mut self) {
        unsafe { py::Py_DECREF(self.0.as_ptr()) }
    }
}

#[cfg(py_2_7)]
unsafe fn utf8_of(obj: *mut py::PyObject) -> Option<String> {
    // 2.7: `str()` gives a byte string.
    let data = py::PyString_AsString(obj);
    if data.is_null() {
        py::PyErr_Clear();
        return None;
    }
    Some(CStr::from_ptr(data).to_string_lossy().into_owned())
}

#[cfg(not(py_2_7))]
unsafe fn utf8_of(obj: *mut py::PyObject) -> Option<String> {
    let data = py::PyUnicode_AsUTF8(obj);
    if data.is_null() {
        py::PyErr_Clear();
        return None;
    }
    Some(CStr::from_ptr(data).to_string_lossy().into_owned())
}

/// What an exception that escaped the program was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Raised {
    SystemExit,
    KeyboardInterrupt,
    Other,
}

/// The result of running Python code: a value, or an exception left pending
/// in the interpreter (to be printed with `print_pending_exception`).
pub type Outcome = std::result::Result<PyRef, Raised>;

fn pending_exception_kind() -> Raised {
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

fn outcome(ptr: *mut py::PyObject) -> Outcome {
    PyRef::from_owned(ptr).ok_or_else(pending_exception_kind)
}

/// The character type of CPython's start-up functions (program name, argv).
#[cfg(py_2_7)]
type ArgChar = c_char;
#[cfg(not(py_2_7))]
type ArgChar = libc::wchar_t;

/// A C string of `bytes`, as a C `argv` would hold them (which cannot hold
/// NUL: any is dropped).
fn c_bytes(bytes: &[u8]) -> CString {
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

/// Starts the interpreter with the same signal handling as `python` (SIGINT
/// raises KeyboardInterrupt, SIGPIPE ignored, ...).
pub fn initialize() -> Interpreter {
    unsafe { py::Py_InitializeEx(1) };
    Interpreter::started()
}

/// The running interpreter, owned by the main thread that started it and
/// holds its GIL until it is finalized (`finalize`, or `run_main`, which
/// finalizes too). Its [`Gil`]s cannot outlive it.
pub struct Interpreter {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Interpreter {
    /// Called by the start-up functions, on the thread that initialized.
    fn started() -> Interpreter {
        Interpreter {
            _not_send: std::marker::PhantomData,
        }
    }

    /// The main thread holds the GIL from initialization to finalization,
    /// except while `run_main` runs the program (which consumes `self`).
    pub fn gil(&self) -> Gil<'_> {
        unsafe { Gil::assume_held() }
    }
}

/// The version of the libpython actually loaded (not the headers we were
/// built with), e.g. (3, 11).
pub fn runtime_version() -> (u32, u32) {
    unsafe {
        let text = CStr::from_ptr(py::Py_GetVersion()).to_string_lossy();
        let mut parts = text.split(['.', ' ']);
        let major = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        let minor = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        (major, minor)
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

/// Runs `source` as a fresh module-like namespace named `filename` and
/// returns that namespace (a dict), so its functions can be called.
pub fn exec_in_new_namespace(_gil: Gil<'_>, source: &str, filename: &str) -> Outcome {
    let c_source = CString::new(source).expect("bootstrap source has no NUL");
    let c_filename = CString::new(filename).expect("filename has no NUL");
    unsafe {
        let code = outcome(compile_string(c_source.as_ptr(), c_filename.as_ptr()))?;
        let namespace = outcome(py::PyDict_New())?;
        let builtins = py::PyEval_GetBuiltins();
        py::PyDict_SetItemString(namespace.as_ptr(), c"__builtins__".as_ptr(), builtins);
        let _ = outcome(eval_code(code.as_ptr(), namespace.as_ptr()))?;
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
unsafe fn new_str_from_command_line(bytes: &[u8]) -> *mut py::PyObject {
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
    Object(&'a PyRef),
}

fn arg_to_object(arg: &Arg) -> Option<PyRef> {
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

/// Calls `namespace[name](*args)`.
pub fn call_in_namespace(_gil: Gil<'_>, namespace: &PyRef, name: &str, args: &[Arg]) -> Outcome {
    let c_name = CString::new(name).expect("function name has no NUL");
    unsafe {
        let function = py::PyDict_GetItemString(namespace.as_ptr(), c_name.as_ptr());
        if function.is_null() {
            panic!("bootstrap function {name} is missing");
        }
        let tuple = outcome(py::PyTuple_New(args.len() as py::Py_ssize_t))?;
        for (index, arg) in args.iter().enumerate() {
            let item = arg_to_object(arg).ok_or_else(pending_exception_kind)?;
            // PyTuple_SetItem steals the reference.
            py::PyTuple_SetItem(tuple.as_ptr(), index as py::Py_ssize_t, item.as_ptr());
            std::mem::forget(item);
        }
        outcome(py::PyObject_Call(
            function,
            tuple.as_ptr(),
            std::ptr::null_mut(),
        ))
    }
}

/// Runs a code object in the namespace of the real `__main__` module, as
/// `python script.py` does, so tracebacks start at the script's own frames.
pub fn eval_in_main(_gil: Gil<'_>, code: &PyRef) -> Outcome {
    unsafe {
        let main = py::PyImport_AddModule(c"__main__".as_ptr()); // borrowed
        if main.is_null() {
            return Err(pending_exception_kind());
        }
        let globals = py::PyModule_GetDict(main); // borrowed
        outcome(eval_code(code.as_ptr(), globals))
    }
}

/// Prints the pending exception exactly as `python` does for an uncaught one
/// (through `sys.excepthook`). For SystemExit this is also where `python`
/// exits: CPython finalizes the interpreter and calls `exit()` with the
/// program's status, so callers must have registered their exit hook first.
pub fn print_pending_exception(_gil: Gil<'_>) {
    unsafe { py::PyErr_Print() }
}

/// Finalizes the interpreter (waits for threads, runs atexit handlers,
/// flushes the standard streams). Returns false where `python` would exit
/// with status 120 (flushing failed).
pub fn finalize(_interpreter: Interpreter) -> bool {
    #[cfg(py_2_7)]
    unsafe {
        py::Py_Finalize();
        true
    }
    #[cfg(not(py_2_7))]
    unsafe {
        py::Py_FinalizeEx() >= 0
    }
}

/// Registers `hook` to run at the very end of finalization, after Python's
/// own atexit handlers and after the standard streams were flushed; also
/// reached when the program exits through SystemExit.
pub fn at_exit(hook: extern "C" fn()) {
    unsafe {
        py::Py_AtExit(Some(hook as _));
    }
}

/// Ends the process as an uncaught KeyboardInterrupt ends `python` 3.8+:
/// by dying of SIGINT, so the parent shell sees it (status 130).
pub fn exit_by_sigint() -> ! {
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_DFL);
        libc::kill(libc::getpid(), libc::SIGINT);
    }
    std::process::exit(128 + libc::SIGINT)
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
pub fn namespace_get(_gil: Gil<'_>, namespace: &PyRef, name: &str) -> Option<PyRef> {
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

/// Makes `exception` (an exception instance) the pending exception.
pub fn set_pending_exception(_gil: Gil<'_>, exception: &PyRef) -> Raised {
    unsafe {
        let kind = py::Py_TYPE(exception.as_ptr()) as *mut py::PyObject;
        py::PyErr_SetObject(kind, exception.as_ptr());
    }
    pending_exception_kind()
}

/// `import module; module.function(*args)`, called from C so that no frame
/// of ours sits under it in a traceback (as `python -m` calls runpy).
pub fn import_and_call(_gil: Gil<'_>, module: &str, function: &str, args: &[Arg]) -> Outcome {
    let c_module = CString::new(module).expect("module name has no NUL");
    let c_function = CString::new(function).expect("function name has no NUL");
    unsafe {
        let module = outcome(py::PyImport_ImportModule(c_module.as_ptr()))?;
        let function = outcome(py::PyObject_GetAttrString(
            module.as_ptr(),
            c_function.as_ptr(),
        ))?;
        let tuple = outcome(py::PyTuple_New(args.len() as py::Py_ssize_t))?;
        for (index, arg) in args.iter().enumerate() {
            let item = arg_to_object(arg).ok_or_else(pending_exception_kind)?;
            py::PyTuple_SetItem(tuple.as_ptr(), index as py::Py_ssize_t, item.as_ptr());
            std::mem::forget(item);
        }
        outcome(py::PyObject_Call(
            function.as_ptr(),
            tuple.as_ptr(),
            std::ptr::null_mut(),
        ))
    }
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

/// The version string of the loaded libpython ("3.11.7 (main, ...)"). Safe
/// to call before `initialize`.
pub fn runtime_version_string() -> String {
    unsafe {
        CStr::from_ptr(py::Py_GetVersion())
            .to_string_lossy()
            .into_owned()
    }
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
    pub fn initialize_from_command_line(argv: &[OsString]) -> super::Interpreter {
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
        super::Interpreter::started()
    }

    /// Runs what the command line says (script, `-m` module, ...) the way
    /// `python` does, then finalizes the interpreter; returns python's exit
    /// status. Dies of SIGINT after an uncaught KeyboardInterrupt, as python.
    pub fn run_main(_interpreter: super::Interpreter) -> i32 {
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

/// Runs `f` with the pending exception (if any) set aside, so that Python
/// calls made by `f` cannot clear or replace it.
pub fn preserving_pending_exception<R>(_gil: Gil<'_>, f: impl FnOnce() -> R) -> R {
    unsafe {
        let (mut kind, mut value, mut traceback) = (
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        );
        py::PyErr_Fetch(&mut kind, &mut value, &mut traceback);
        let result = f();
        py::PyErr_Restore(kind, value, traceback);
        result
    }
}

/// Clears any pending exception.
pub fn clear_pending_exception(_gil: Gil<'_>) {
    unsafe { py::PyErr_Clear() }
}
