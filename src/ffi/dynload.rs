//! Loading shared libraries at run time, for the wheel's launcher
//! (`src/launch.rs`): the interpreter's libpython first, into the global
//! namespace as a `python` executable's own libpython is, then the
//! `_pyinstrument` library (linked to no libpython), whose undefined C API
//! symbols then resolve to that libpython. Nothing here touches Python.

use std::ffi::{CStr, CString};
use std::os::raw::c_int;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn open(path: &Path, flags: c_int) -> Result<*mut libc::c_void, String> {
    let name = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| format!("{}: a path with a NUL byte", path.display()))?;
    // SAFETY: a NUL-terminated name; the handle is never closed (the
    // library stays loaded for the life of the process).
    let handle = unsafe { libc::dlopen(name.as_ptr(), flags) };
    if handle.is_null() {
        return Err(last_error());
    }
    Ok(handle)
}

fn last_error() -> String {
    // SAFETY: dlerror returns NULL or a NUL-terminated message that stays
    // valid until the next dl* call on this thread; it is copied at once.
    let message = unsafe { libc::dlerror() };
    if message.is_null() {
        "unknown dlopen error".to_string()
    } else {
        unsafe { CStr::from_ptr(message) }
            .to_string_lossy()
            .into_owned()
    }
}

/// Loads `path` (a file, or a bare soname for the loader's search path)
/// with its symbols available to every library loaded after it.
pub fn load_global(path: &Path) -> Result<(), String> {
    open(path, libc::RTLD_NOW | libc::RTLD_GLOBAL).map(|_| ())
}

/// Loads the library at `path` and calls its `extern "C" fn() -> c_int`
/// named `symbol`, returning what it returns.
pub fn call_entry(path: &Path, symbol: &CStr) -> Result<c_int, String> {
    let handle = open(path, libc::RTLD_NOW | libc::RTLD_LOCAL)?;
    // SAFETY: a handle from dlopen and a NUL-terminated name.
    let address = unsafe { libc::dlsym(handle, symbol.as_ptr()) };
    if address.is_null() {
        return Err(format!(
            "{}: no symbol {}",
            path.display(),
            symbol.to_string_lossy()
        ));
    }
    // SAFETY: the symbol is `app::pyinstrument_main`, an `extern "C" fn()
    // -> c_int` of the same crate version (the launcher and the library
    // come from one wheel).
    let entry: extern "C" fn() -> c_int = unsafe { std::mem::transmute(address) };
    Ok(entry())
}
