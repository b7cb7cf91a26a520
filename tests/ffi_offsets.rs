//! Proves every offset, size and constant in `ffi::layout::all_offsets()` against
//! the headers of the Python this crate was built for: generates a C probe
//! from the OFFSETS names, compiles it with gcc against
//! PYINSTRUMENT_BUILD_PY_INCLUDE (with Py_BUILD_CORE, for the internal
//! headers 3.11+ needs), runs it and compares value by value.

use pyinstrument::ffi::layout::{self, all_offsets};
use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;

const INCLUDE: &str = env!("PYINSTRUMENT_BUILD_PY_INCLUDE");
const PY_VERSION: &str = env!("PYINSTRUMENT_BUILD_PY_VERSION");

/// One C statement printing the value an OFFSETS name stands for.
fn c_statement(name: &str) -> String {
    if let Some(inner) = name.strip_prefix("mask(").and_then(|s| s.strip_suffix(')')) {
        // "T.bits.field": set the bitfield to all ones in a zeroed T and read
        // back the 32-bit word holding it.
        let parts: Vec<&str> = inner.split('.').collect();
        assert_eq!(parts.len(), 3, "mask() wants T.bits.field: {name}");
        let (ty, bits, field) = (parts[0], parts[1], parts[2]);
        format!(
            "{{ {ty} o; uint32_t w; memset(&o, 0, sizeof o); o.{bits}.{field} = ~0u; \
             memcpy(&w, (char *)&o + offsetof({ty}, {bits}), sizeof w); \
             printf(\"%zu\\n\", (size_t)w); }}"
        )
    } else if name.starts_with("sizeof(") {
        format!("printf(\"%zu\\n\", (size_t)({name}));")
    } else if let Some((ty, field)) = name.split_once('.') {
        format!("printf(\"%zu\\n\", (size_t)offsetof({ty}, {field}));")
    } else {
        format!("printf(\"%zu\\n\", (size_t)({name}));")
    }
}

fn probe_source() -> String {
    let mut c = String::from(
        "#define Py_BUILD_CORE 1\n\
         #include <Python.h>\n\
         #include <frameobject.h>\n\
         #if PY_VERSION_HEX >= 0x030b0000\n\
         #include <internal/pycore_frame.h>\n\
         #endif\n\
         #if PY_VERSION_HEX >= 0x030c0000\n\
         #include <internal/pycore_interp.h>\n\
         #include <internal/pycore_runtime.h>\n\
         #elif PY_VERSION_HEX >= 0x03090000\n\
         #include <internal/pycore_runtime.h>\n\
         #elif PY_VERSION_HEX >= 0x03080000\n\
         #include <internal/pycore_pystate.h>\n\
         #elif PY_VERSION_HEX >= 0x03070000\n\
         #include <internal/pystate.h>\n\
         #endif\n\
         #if PY_VERSION_HEX >= 0x030e0000\n\
         #include <internal/pycore_stackref.h>\n\
         #include <internal/pycore_debug_offsets.h>\n\
         #endif\n\
         #include <stddef.h>\n\
         #include <stdint.h>\n\
         #include <stdio.h>\n\
         #include <string.h>\n\
         int main(void) {\n",
    );
    for (name, _) in all_offsets() {
        writeln!(c, "    {}", c_statement(name)).unwrap();
    }
    c.push_str("    return 0;\n}\n");
    c
}

fn scratch_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("ffi_offsets_{PY_VERSION}"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn layout_is_for_the_linked_python() {
    let (major, minor) = layout::VERSION;
    assert_eq!(format!("{major}.{minor}"), PY_VERSION);
}

#[test]
fn offsets_names_are_unique() {
    let mut seen = HashSet::new();
    for (name, _) in all_offsets() {
        assert!(seen.insert(name), "duplicate OFFSETS entry {name}");
    }
}

#[test]
fn offsets_match_the_c_headers() {
    let dir = scratch_dir();
    let source = dir.join("probe.c");
    let binary = dir.join("probe");
    std::fs::write(&source, probe_source()).unwrap();

    let internal = format!("{INCLUDE}/internal");
    let compiled = Command::new("gcc")
        .args(["-w", "-O0", "-I", INCLUDE, "-I", &internal, "-o"])
        .arg(&binary)
        .arg(&source)
        .output()
        .expect("gcc must be installed to check the layouts");
    assert!(
        compiled.status.success(),
        "probe did not compile against {INCLUDE}:\n{}\n--- source:\n{}",
        String::from_utf8_lossy(&compiled.stderr),
        probe_source()
    );

    let ran = Command::new(&binary).output().unwrap();
    assert!(ran.status.success(), "probe failed: {ran:?}");
    let text = String::from_utf8(ran.stdout).unwrap();
    let values: Vec<usize> = text.lines().map(|l| l.trim().parse().unwrap()).collect();
    let offsets = all_offsets();
    assert_eq!(values.len(), offsets.len(), "probe printed:\n{text}");

    let mismatches: Vec<String> = offsets
        .iter()
        .zip(&values)
        .filter(|((_, rust), c)| rust != *c)
        .map(|((name, rust), c)| {
            format!("{name}: Rust says {rust}, the {PY_VERSION} headers say {c}")
        })
        .collect();
    assert!(
        mismatches.is_empty(),
        "layout mismatches:\n{}",
        mismatches.join("\n")
    );
    eprintln!(
        "checked {} layout facts against Python {PY_VERSION} headers",
        offsets.len()
    );
}

#[test]
#[cfg_attr(
    not(any(py_3_13, py_3_14, py_3_15)),
    ignore = "CPython publishes _Py_DebugOffsets since 3.13 only"
)]
fn the_running_interpreter_describes_our_layout() {
    use pyinstrument::ffi::layout::running::{check_debug_offsets, check_running_interpreter};
    let checks = layout::LAYOUT.debug_offsets;
    assert!(!checks.is_empty(), "the {PY_VERSION} layout checks nothing");
    assert_eq!(check_running_interpreter(), Ok(()));
    // A field that moved is caught, and named.
    let mut moved = checks.to_vec();
    moved[0].expected += 8;
    let error = check_debug_offsets(&moved).unwrap_err();
    assert!(error.contains(moved[0].name), "{error}");
}
