//! The wheel's `pyinstrument` command. A wheel is built on one machine and
//! installed into another installation of the same CPython minor, whose
//! libpython (and built-in modules, and standard library) may differ from
//! the build machine's, and may be anywhere. So the command in a wheel is
//! this launcher, linked to no libpython: it finds the python the program
//! will run with (`runner::environment::python_program`, the same choice
//! the runner makes), loads that installation's libpython into the global
//! namespace, then loads the `_pyinstrument` module installed with it
//! (the whole crate, also linked to no libpython) and runs
//! `app::pyinstrument_main` from it. The environment is left untouched
//! (no LD_LIBRARY_PATH, no re-exec).
//!
//! Only a CPython with a shared libpython can be loaded this way; for one
//! without, this says so and how to build from source (which links the
//! static libpython; see build.rs).

use crate::ffi::dynload;
use crate::runner::environment::{installation_prefix, python_program};
use std::path::{Path, PathBuf};

const VERSION: &str = env!("PYINSTRUMENT_BUILD_PY_VERSION");
/// The file name libpython is installed under (`INSTSONAME`).
const SONAME: &str = env!("PYINSTRUMENT_BUILD_PY_SONAME");

pub fn main() -> i32 {
    match launch() {
        Ok(status) => status,
        Err(message) => {
            eprintln!("pyinstrument: error: {message}");
            1
        }
    }
}

fn launch() -> Result<i32, String> {
    let python = PathBuf::from(python_program());
    let library = find_libpython(&python)?;
    dynload::load_global(&library).map_err(|e| {
        format!(
            "cannot load Python {VERSION}'s library {}: {e}",
            library.display()
        )
    })?;
    let module = find_module()?;
    dynload::call_entry(&module, c"pyinstrument_main")
        .map_err(|e| format!("cannot start pyinstrument from {}: {e}", module.display()))
}

/// The installation's libpython: in its lib/ (or lib/<multiarch>/, as
/// Debian has it), else wherever the dynamic loader finds it.
fn find_libpython(python: &Path) -> Result<PathBuf, String> {
    let mut looked = Vec::new();
    if let Some(prefix) = installation_prefix(python) {
        let multiarch = format!("{}-linux-gnu", std::env::consts::ARCH);
        for dir in ["lib", &format!("lib/{multiarch}"), "lib64"] {
            let candidate = prefix.join(dir).join(SONAME);
            if candidate.is_file() {
                return Ok(candidate);
            }
            looked.push(candidate.display().to_string());
        }
    }
    // The loader's own search path (ld.so.cache: /usr/lib/<multiarch>...).
    if dynload::load_global(Path::new(SONAME)).is_ok() {
        return Ok(PathBuf::from(SONAME));
    }
    looked.push(format!("the dynamic loader's search path for {SONAME}"));
    Err(format!(
        "cannot find the shared libpython of {} (Python {VERSION}); looked in: {}.\n\
         This installed wheel needs a CPython built with a shared library (Debian/Ubuntu: \
         apt install libpython{VERSION}; pyenv: PYTHON_CONFIGURE_OPTS=--enable-shared). \
         For a Python without one, install pyinstrument from source instead \
         (`python -m pip install ./pyshim` in a clone of its repository), which links \
         that Python's static libpython.",
        python.display(),
        looked.join(", ")
    ))
}

/// `_pyinstrument*.so` in the site-packages (or Debian's dist-packages)
/// of the scheme this command was installed with: <prefix>/bin/pyinstrument
/// and <prefix>/lib/pythonX.Y/site-packages/.
fn find_module() -> Result<PathBuf, String> {
    let exe =
        std::env::current_exe().map_err(|e| format!("cannot find this command's path: {e}"))?;
    let prefix = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| format!("{}: not in a bin/ directory", exe.display()))?;
    let mut looked = Vec::new();
    for dir in ["site-packages", "dist-packages"] {
        let dir = prefix
            .join("lib")
            .join(format!("python{VERSION}"))
            .join(dir);
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if name.starts_with("_pyinstrument.") && name.ends_with(".so") {
                    return Ok(entry.path());
                }
            }
        }
        looked.push(dir.display().to_string());
    }
    Err(format!(
        "cannot find the _pyinstrument module installed with this command (looked in {}); \
         reinstall pyinstrument",
        looked.join(", ")
    ))
}
