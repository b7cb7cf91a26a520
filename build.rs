//! Finds the Python to link (PYTHON_SYS_EXECUTABLE, else `python3` on PATH),
//! links its libpython, and tells the crate which CPython minor it is built
//! for with `cfg(py_3_N)`.
//!
//! How libpython is linked (`PYINSTRUMENT_LINK`):
//!
//! - `shared` (the default when the Python has a shared libpython): `-l
//!   python3.N` with an rpath to its LIBDIR, so the binary runs without
//!   LD_LIBRARY_PATH;
//! - `static` (the default when it has none, e.g. pyenv without
//!   `--enable-shared`): the whole `libpython3.N.a` from its config dir
//!   (LIBPL), the libraries it needs (LIBS, SYSLIBS, MODLIBS) and
//!   `--export-dynamic`, so that C extension modules (`_ssl`, `_json`,
//!   `_ctypes`...) find the C API in our binary as they do in `python`;
//! - with the crate feature `extension-module` nothing is linked: the
//!   `_pyinstrument` module and the wheel's launcher take the C API from
//!   the process they are loaded into (see pyshim/setup.py).
//!
//! python3-sys/python27-sys would emit their own `-l python3.N`; the crate
//! turns that off (their `extension-module` feature, always on) so that
//! this file is the one place that decides.

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
print(v('Py_GIL_DISABLED') or 0)\n\
print(v('LDVERSION') or v('VERSION'))\n\
print(v('LIBPL') or '')\n\
print(v('LIBRARY') or '')\n\
print(' '.join(str(v(k) or '') for k in ('LIBS', 'SYSLIBS', 'MODLIBS')))\n\
print(v('INSTSONAME') or '')\n";

/// The CPython 3 minors with a layout in src/ffi/layout/: the one list of
/// supported versions (tests/supported_versions.rs ties the others to it).
const KNOWN_MINORS: &[u32] = &[6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

fn main() {
    println!("cargo:rerun-if-env-changed=PYTHON_SYS_EXECUTABLE");
    println!("cargo:rerun-if-env-changed=PYINSTRUMENT_LINK");
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
    if lines.len() < 13 {
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
    let (ldversion, libpl, library, libs) = (lines[8], lines[9], lines[10], lines[11]);
    // The shared library's installed name, which a wheel's launcher looks
    // for (a static-only Python names its .a here: use the usual name).
    let soname = match lines[12] {
        name if name.contains(".so") => name.to_string(),
        _ => format!("libpython{ldversion}.so.1.0"),
    };

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
    let extension_module = env::var_os("CARGO_FEATURE_EXTENSION_MODULE").is_some();
    let linked = if extension_module {
        "none: the C API of the process that loads it".to_string()
    } else {
        match link_mode(shared == "1") {
            LinkMode::Shared => {
                if shared != "1" {
                    fail(&format!(
                        "PYINSTRUMENT_LINK=shared, but `{executable}` (Python {version}) was built \
                         without a shared libpython (Py_ENABLE_SHARED is {shared}). Unset \
                         PYINSTRUMENT_LINK to link its static libpython."
                    ));
                }
                println!("cargo:rustc-link-search=native={libdir}");
                println!("cargo:rustc-link-lib=dylib=python{ldversion}");
                println!("cargo:rustc-link-arg=-Wl,-rpath,{libdir}");
                format!("{libdir}/{ldlibrary}")
            }
            LinkMode::Static => {
                link_static(executable, version, ldversion, libpl, library, libs);
                format!("{libpl}/{library}, linked in")
            }
        }
    };
    // The python a program runs with when nothing else says (see
    // runner/environment.rs). Not in an extension-module build, which goes
    // into wheels: no path of the build machine in them.
    let build_python = if extension_module { "" } else { executable };
    println!("cargo:rustc-env=PYINSTRUMENT_BUILD_PYTHON={build_python}");
    println!("cargo:rustc-env=PYINSTRUMENT_BUILD_PY_VERSION={version}");
    println!("cargo:rustc-env=PYINSTRUMENT_BUILD_PY_HEXVERSION={hexversion}");
    println!("cargo:rustc-env=PYINSTRUMENT_BUILD_PY_INCLUDE={include}");
    println!("cargo:rustc-env=PYINSTRUMENT_BUILD_PY_LIBRARY={linked}");
    println!("cargo:rustc-env=PYINSTRUMENT_BUILD_PY_SONAME={soname}");
}

enum LinkMode {
    Shared,
    Static,
}

/// PYINSTRUMENT_LINK=shared|static, else whatever the Python has.
fn link_mode(has_shared: bool) -> LinkMode {
    match env::var("PYINSTRUMENT_LINK").as_deref() {
        Ok("shared") => LinkMode::Shared,
        Ok("static") => LinkMode::Static,
        Ok("") | Err(_) if has_shared => LinkMode::Shared,
        Ok("") | Err(_) => LinkMode::Static,
        Ok(other) => fail(&format!(
            "PYINSTRUMENT_LINK is `{other}`; it must be `shared`, `static`, or unset \
             (shared when the Python has a shared libpython, else static)."
        )),
    }
}

/// Links the whole static libpython (every object, not only those our code
/// calls: extension modules loaded later need the rest of the C API) and
/// exports its symbols, as python's own `LINKFORSHARED` does.
fn link_static(
    executable: &str,
    version: &str,
    ldversion: &str,
    libpl: &str,
    library: &str,
    libs: &str,
) {
    let archive = std::path::Path::new(libpl).join(library);
    if library.is_empty() || !library.ends_with(".a") || !archive.is_file() {
        fail(&format!(
            "`{executable}` (Python {version}) has no static libpython: no `{}`. \
             Use a Python with a shared libpython (PYINSTRUMENT_LINK=shared) or one that \
             installs libpython{ldversion}.a in its config directory.",
            archive.display()
        ));
    }
    let name = library.trim_start_matches("lib").trim_end_matches(".a");
    println!("cargo:rerun-if-changed={}", archive.display());
    println!("cargo:rustc-link-search=native={libpl}");
    // -bundle: passed to the final link rather than copied into our rlib.
    println!("cargo:rustc-link-lib=static:+whole-archive,-bundle={name}");
    // What libpython needs, from LIBS, SYSLIBS and MODLIBS: the libraries
    // and their directories. Their `-Wl,-rpath` (pyenv puts one in LIBS)
    // would point the binary back at the build machine: left out.
    let mut seen = Vec::new();
    for flag in libs.split_whitespace() {
        if let Some(lib) = flag.strip_prefix("-l") {
            if !seen.contains(&lib) {
                seen.push(lib);
                println!("cargo:rustc-link-lib=dylib={lib}");
            }
        } else if let Some(dir) = flag.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={dir}");
        }
    }
    println!("cargo:rustc-link-arg=-Wl,--export-dynamic");
}

fn fail(message: &str) -> ! {
    eprintln!("\nerror: {message}\n");
    std::process::exit(1);
}
