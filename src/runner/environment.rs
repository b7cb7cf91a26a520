//! Which Python installation the program should see. `python script.py`
//! run inside a virtualenv sees that virtualenv's `sys.prefix`,
//! `sys.executable` and site-packages, because CPython derives them from the
//! path of the `python` binary (its `pyvenv.cfg`). The embedded interpreter
//! derives them from the program name we give it, so we give it the
//! virtualenv's python when one is active and matches our Python version.

use crate::error::{Error, Result};
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};

/// Empty in a wheel's build (the `extension-module` feature).
const BUILD_PYTHON: &str = env!("PYINSTRUMENT_BUILD_PYTHON");
const BUILD_VERSION: &str = env!("PYINSTRUMENT_BUILD_PY_VERSION");

/// The python executable whose environment the program runs in.
pub fn python_program() -> String {
    if let Some(venv) = std::env::var_os("VIRTUAL_ENV").filter(|v| !v.is_empty()) {
        let venv = PathBuf::from(venv);
        if let Some(python) = venv_python(&venv) {
            return python;
        }
    }
    // A virtualenv's python first on PATH (used without activating it).
    // Only the first directory that has a python counts, as for a shell.
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = ["python", "python3"]
                .iter()
                .map(|n| dir.join(n))
                .find(|p| p.is_file());
            if candidate.is_some() {
                if let Some(venv) = dir.parent() {
                    if venv.join("pyvenv.cfg").is_file() {
                        if let Some(python) = venv_python(venv) {
                            return python;
                        }
                    }
                }
                break;
            }
        }
    }
    // The python of the installation or virtualenv this command is
    // installed in (pip puts both in the same bin/): a command run by its
    // path, without activating its virtualenv, or from a wheel built on
    // another machine.
    if let Some(python) = sibling_python() {
        return python;
    }
    if !BUILD_PYTHON.is_empty() && Path::new(BUILD_PYTHON).is_file() {
        return BUILD_PYTHON.to_string();
    }
    // Built elsewhere (a wheel): the first python of our version on PATH.
    let name = format!("python{BUILD_VERSION}");
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(&name))
                .find(|p| p.is_file())
        })
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|| match BUILD_PYTHON {
            "" => name,
            built => built.to_string(),
        })
}

fn sibling_python() -> Option<String> {
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?;
    let root = bin.parent()?;
    if root.join("pyvenv.cfg").is_file() {
        return venv_python(root);
    }
    let python = bin.join(format!("python{BUILD_VERSION}"));
    python
        .is_file()
        .then(|| python.to_string_lossy().into_owned())
}

/// The directory holding the standard library and libpython of the Python
/// installation `python` belongs to (a virtualenv's base installation).
pub fn installation_prefix(python: &Path) -> Option<PathBuf> {
    let root = python.parent()?.parent()?;
    if let Ok(config) = fs::read_to_string(root.join("pyvenv.cfg")) {
        let home = config.lines().find_map(|line| {
            let (key, value) = line.split_once('=')?;
            (key.trim() == "home").then(|| PathBuf::from(value.trim()))
        })?;
        let home = fs::canonicalize(&home).unwrap_or(home);
        return home.parent().map(Path::to_path_buf);
    }
    let real = fs::canonicalize(python).ok()?;
    Some(real.parent()?.parent()?.to_path_buf())
}

/// The virtualenv's python, if the virtualenv is of the Python version we
/// were built for (another version's site-packages cannot be loaded); a
/// mismatch is said once on stderr.
fn venv_python(venv: &Path) -> Option<String> {
    let config = fs::read_to_string(venv.join("pyvenv.cfg")).ok()?;
    let version = config.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        matches!(key.trim(), "version" | "version_info").then(|| value.trim().to_string())
    })?;
    let minor_version: String = version.split('.').take(2).collect::<Vec<_>>().join(".");
    if minor_version != BUILD_VERSION {
        eprintln!(
            "pyinstrument: warning: ignoring the virtualenv {} (Python {minor_version}); \
             this pyinstrument runs Python {BUILD_VERSION}",
            venv.display()
        );
        return None;
    }
    // `python` first: what `python script.py` in the virtualenv reports.
    ["python", "python3"]
        .iter()
        .map(|name| venv.join("bin").join(name))
        .find(|p| p.exists())
        .map(|p| p.to_string_lossy().into_owned())
}

/// Fails like python does (but naming pyinstrument) when the script cannot
/// be opened, before the interpreter starts.
pub fn check_script_readable(path: &OsStr) -> Result<()> {
    let as_error = |e: std::io::Error| {
        let errno = e.raw_os_error().unwrap_or(0);
        let reason = std::io::Error::from_raw_os_error(errno).to_string();
        let reason = reason
            .split(" (os error")
            .next()
            .unwrap_or(&reason)
            .to_string();
        Error::CannotRun(format!(
            "can't open file '{}': [Errno {errno}] {reason}",
            path.to_string_lossy()
        ))
    };
    let target = Path::new(path);
    if target.is_dir() {
        return Ok(()); // a directory with a __main__.py, run like python does
    }
    fs::File::open(target).map(|_| ()).map_err(as_error)
}

/// `--from-path`: the executable file `name` in the first `PATH` directory
/// that has one, as a shell would find it (a name with a `/` is a path and
/// is used as it is, as `python` would).
pub fn find_on_path(name: &OsStr) -> Result<std::ffi::OsString> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::PermissionsExt;
    if name.as_bytes().contains(&b'/') {
        return Ok(name.to_owned());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| {
            fs::metadata(candidate)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
        .map(|found| found.into_os_string())
        .ok_or_else(|| {
            Error::CannotRun(format!(
                "can't find '{}' on PATH (--from-path)",
                name.to_string_lossy()
            ))
        })
}
