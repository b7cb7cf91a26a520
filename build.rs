//! Finds the Python to link (PYTHON_SYS_EXECUTABLE, else `python3` on PATH),
//! checks it has a shared libpython, embeds an rpath to it, and tells the
//! crate which CPython minor it is built for with `cfg(py_3_N)`.
//!
//! python3-sys emits the `-l python3.N` itself; we add what it does not: the
//! rpath (so the binary runs without LD_LIBRARY_PATH), the version cfgs our
//! ffi layer dispatches on, and the build interpreter's facts as env vars.

use std::env;
use std::process::Command;

const PROBE: &str = "import sys, sysconfig\n\
v = sysconfig.get_config_var\n\
print(sys.executable)\n\
print('%d.%d' % sys.version_info[:2])\n\
print(v('Py_ENABLE_SHARED'))\n\
print(v('LIBDIR'))\n\
print(v('LDLIBRARY'))\n\
print(v('INCLUDEPY'))\n\
print(sys.hexversion)\n\
print(v('Py_GIL_DISABLED') or 0)\n";

/// The CPython 3 minors with a layout in src/ffi/layout/: the one list of
/// supported versions (tests/supported_versions.rs ties the others to it).
const KNOWN_MINORS: &[u32] = &[6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

fn main() {
    println!("cargo:rerun-if-env-changed=PYTHON_SYS_EXECUTABLE");
    println!("cargo:rerun-if-changed=build.rs");
    for minor in KNOWN_MINORS {
        println!("cargo::rustc-check-cfg=cfg(py_3_{minor})");
    }
    println!("cargo::rustc-check-cfg=cfg(py_2_7)");
    println!("cargo::rustc-check-cfg=cfg(py_run_main)");

    let python = env::var("PYTHON_SYS_EXECUTABLE").unwrap_or_else(|_| "python3".to_string());
    let output = match Command::new(&python).arg("-c").arg(PROBE).output() {
        Ok(output) if output.status.success() => output,
        Ok(output) => fail(&format!(
            "`{python}` failed while reporting its configuration:\n{}",
            String::from_utf8_lossy(&output.stderr)
        )),
        Err(err) => fail(&format!(
            "cannot run `{python}` ({err}). Set PYTHON_SYS_EXECUTABLE to the python to build against."
        )),
    };
    let text = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() < 8 {
        fail(&format!("unexpected answer from `{python}`: {text}"));
    }
    let (executable, version, shared, libdir, ldlibrary, include, hexversion) = (
        lines[0], lines[1], lines[2], lines[3], lines[4], lines[5], lines[6],
    );

    let (major, minor) = version.split_once('.').unwrap_or(("0", "0"));
    let minor: u32 = minor.parse().unwrap_or(0);
    let supported = (major == "3" && KNOWN_MINORS.contains(&minor)) || version == "2.7";
    if !supported {
        fail(&format!(
            "`{executable}` is Python {version}; pyinstrument supports CPython 2.7 and 3.{} to 3.{}.",
            KNOWN_MINORS[0],
            KNOWN_MINORS[KNOWN_MINORS.len() - 1]
        ));
    }
    if lines[7] == "1" {
        fail(&format!(
            "`{executable}` is a free-threaded (no-GIL) build of Python {version}, whose object \
             layout pyinstrument does not read yet; use a standard build."
        ));
    }
    if shared != "1" {
        fail(&format!(
            "`{executable}` (Python {version}) was built without a shared libpython \
             (Py_ENABLE_SHARED is {shared}), which pyinstrument links against.\n\
             Rebuild that Python with --enable-shared (for pyenv: \
             env PYTHON_CONFIGURE_OPTS=--enable-shared pyenv install {version}) \
             or point PYTHON_SYS_EXECUTABLE at one that has it."
        ));
    }

    let bindings_for_3 = env::var_os("CARGO_FEATURE_PYTHON3").is_some();
    let bindings_for_2 = env::var_os("CARGO_FEATURE_PYTHON27").is_some();
    if bindings_for_3 == bindings_for_2 {
        fail("enable exactly one of the features `python3` (the default) and `python27`.");
    }
    if major == "2" && bindings_for_3 {
        fail(&format!(
            "`{executable}` is Python 2.7: build with `--no-default-features --features python27`."
        ));
    }
    if major == "3" && bindings_for_2 {
        fail(&format!(
            "`{executable}` is Python {version}: the `python27` feature is for Python 2.7 only."
        ));
    }

    if major == "3" {
        println!("cargo:rustc-cfg=py_3_{minor}");
        if minor >= 8 {
            // PEP 587: initialise from python's own command line, run with Py_RunMain.
            println!("cargo:rustc-cfg=py_run_main");
        }
    } else {
        println!("cargo:rustc-cfg=py_2_7");
    }
    println!("cargo:rustc-link-arg=-Wl,-rpath,{libdir}");
    println!("cargo:rustc-env=PYINSTRUMENT_BUILD_PYTHON={executable}");
    println!("cargo:rustc-env=PYINSTRUMENT_BUILD_PY_VERSION={version}");
    println!("cargo:rustc-env=PYINSTRUMENT_BUILD_PY_HEXVERSION={hexversion}");
    println!("cargo:rustc-env=PYINSTRUMENT_BUILD_PY_INCLUDE={include}");
    println!("cargo:rustc-env=PYINSTRUMENT_BUILD_PY_LIBRARY={libdir}/{ldlibrary}");
}

fn fail(message: &str) -> ! {
    eprintln!("\nerror: {message}\n");
    std::process::exit(1);
}
