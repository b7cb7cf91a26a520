//! `_pyinstrument`, the native half of the Python package: start and stop a
//! sampler on the calling thread, and render sessions. The package's
//! `Profiler` class (pyshim/pyinstrument/profiler.py) is the public face.

use crate::ffi::gil::Gil;
use crate::ffi::native_module::{create_module, Function, Raise, Value};
use crate::render::{render, Format, RenderOptions};
use crate::sampler::{Mode, Sampler};
use crate::session::{ProgramInfo, Session};
use std::cell::RefCell;
use std::sync::atomic::{AtomicI64, Ordering};

static NEXT_HANDLE: AtomicI64 = AtomicI64::new(1);

thread_local! {
    /// Samplers started on this thread; a sampler must be stopped on the
    /// thread that started it (its timer and profile hook belong to it).
    static SAMPLERS: RefCell<Vec<(i64, Sampler)>> = const { RefCell::new(Vec::new()) };
}

static FUNCTIONS: [Function; 4] = [
    Function {
        name: c"start",
        doc: c"start(use_signal, interval[, all_threads]) -> handle: profile the calling thread (or every thread)",
        call: start,
    },
    Function {
        name: c"stop",
        doc: c"stop(handle, command_line, sys_path, library_dirs, python_version, own_code_dirs[, target_description, root_file, root_line]) -> session JSON",
        call: stop,
    },
    Function {
        name: c"combine",
        doc: c"combine(earlier_json, later_json) -> session JSON: one profile of both",
        call: combine,
    },
    Function {
        name: c"render",
        doc: c"render(session_json, renderer, unicode, color, show_all, render_options) -> report text (bytes for pstats)",
        call: render_session,
    },
];

const MODULE_DOC: &std::ffi::CStr = c"pyinstrument's native sampler and renderers";

/// The init function CPython 3 calls to import `_pyinstrument`.
#[cfg(not(py_2_7))]
#[allow(unsafe_code)] // exporting an unmangled symbol is all this does
#[no_mangle]
pub extern "C" fn PyInit__pyinstrument() -> crate::ffi::native_module::ModulePtr {
    create_module(c"_pyinstrument", MODULE_DOC, &FUNCTIONS)
}

/// The init function CPython 2.7 calls to import `_pyinstrument`.
#[cfg(py_2_7)]
#[allow(unsafe_code)] // exporting an unmangled symbol is all this does
#[no_mangle]
pub extern "C" fn init_pyinstrument() {
    let _ = create_module(c"_pyinstrument", MODULE_DOC, &FUNCTIONS);
}

/// The module's init function, for registering it as a built-in.
#[cfg(not(py_2_7))]
pub const MODULE_INIT: extern "C" fn() -> crate::ffi::native_module::ModulePtr =
    PyInit__pyinstrument;
#[cfg(py_2_7)]
pub const MODULE_INIT: extern "C" fn() = init_pyinstrument;

fn start(gil: Gil<'_>, args: &[Value]) -> Result<Value, Raise> {
    let (flags, all_threads) = match args {
        [first, second] => ([first, second], false),
        [first, second, Value::Bool(all_threads)] => ([first, second], *all_threads),
        _ => ([&Value::Int(0), &Value::Int(0)], false),
    };
    let (use_signal, interval) = match flags {
        [Value::Bool(use_signal), Value::Float(interval)] => (*use_signal, *interval),
        [Value::Bool(use_signal), Value::Int(interval)] => (*use_signal, *interval as f64),
        _ => {
            return Err(Raise::TypeError(
                "start(use_signal: bool, interval: float, all_threads: bool = False)".to_string(),
            ))
        }
    };
    let mode = if use_signal {
        Mode::Signal
    } else {
        Mode::Setprofile
    };
    let sampler = Sampler::start(gil, mode, interval, all_threads)
        .map_err(|e| Raise::ValueError(e.to_string()))?;
    let handle = NEXT_HANDLE.fetch_add(1, Ordering::SeqCst);
    SAMPLERS.with(|samplers| samplers.borrow_mut().push((handle, sampler)));
    Ok(Value::Int(handle))
}

/// `own_code_dirs` are where the package's own code is (its frames are
/// taken out); `target_description` (a str or None) goes to the report's
/// header; `root_file` and `root_line` (or None) name the function whose
/// callers the profile leaves out (`Profiler.start(caller_frame=...)`, the
/// IPython magic's cell).
fn stop(gil: Gil<'_>, args: &[Value]) -> Result<Value, Raise> {
    let usage = || {
        Raise::TypeError(
            "stop(handle, command_line, sys_path, library_dirs, python_version, own_code_dirs[, target_description, root_file, root_line])"
                .to_string(),
        )
    };
    let (fixed, optional) = args.split_at(args.len().min(6));
    let [Value::Int(handle), Value::StrList(command_line), Value::StrList(sys_path), Value::StrList(library_dirs), Value::Str(python_version), Value::StrList(own_code_dirs)] =
        fixed
    else {
        return Err(usage());
    };
    let (target_description, root) = match optional {
        [] => (None, None),
        [description, file, line] => {
            let description = match description {
                Value::None => None,
                Value::Str(text) => Some(text.clone()),
                _ => return Err(usage()),
            };
            let root = match (file, line) {
                (Value::None, _) => None,
                (Value::Str(file), Value::Int(line)) => {
                    Some((file.clone(), u32::try_from(*line).map_err(|_| usage())?))
                }
                _ => return Err(usage()),
            };
            (description, root)
        }
        _ => return Err(usage()),
    };
    let sampler = SAMPLERS.with(|samplers| {
        let mut samplers = samplers.borrow_mut();
        let index = samplers.iter().position(|(h, _)| h == handle)?;
        Some(samplers.remove(index).1)
    });
    let Some(sampler) = sampler else {
        return Err(Raise::RuntimeError(
            "this profiler is not running on this thread: stop() must be called from the thread that called start()"
                .to_string(),
        ));
    };
    let mut session = Session::from_recording(
        sampler.stop(gil),
        ProgramInfo {
            command_line: command_line.clone(),
            python_version: python_version.clone(),
            sys_path: sys_path.clone(),
            library_dirs: library_dirs.clone(),
            own_code_dirs: own_code_dirs.clone(),
        },
    );
    if let Some((file, line)) = root {
        session = session.rooted_at(&file, line);
    }
    session.target_description = target_description;
    Ok(Value::Str(session.to_json()))
}

/// What a Profiler started again after a stop holds: its earlier session
/// and the new one, as one (pyinstrument 5's semantics).
fn combine(_gil: Gil<'_>, args: &[Value]) -> Result<Value, Raise> {
    let [Value::Str(earlier), Value::Str(later)] = args else {
        return Err(Raise::TypeError(
            "combine(earlier_json: str, later_json: str)".to_string(),
        ));
    };
    let load = |json: &str| Session::from_json(json).map_err(|e| Raise::ValueError(e.to_string()));
    Ok(Value::Str(load(earlier)?.combine(load(later)?).to_json()))
}

/// `render_options` are `KEY=VALUE` strings read by the parser `-p` uses
/// (`RenderOptions::set`), so the API and the command line agree; a bad
/// one raises ValueError.
fn render_session(_gil: Gil<'_>, args: &[Value]) -> Result<Value, Raise> {
    let [Value::Str(json), Value::Str(renderer), Value::Bool(unicode), Value::Bool(color), Value::Bool(show_all), Value::StrList(render_options)] =
        args
    else {
        return Err(Raise::TypeError(
            "render(session_json, renderer, unicode, color, show_all, render_options: list of str)"
                .to_string(),
        ));
    };
    let session = Session::from_json(json).map_err(|e| Raise::ValueError(e.to_string()))?;
    // pstats' binary file is not a text `Format` (see `output`).
    if renderer == "pstats" {
        return Ok(Value::Bytes(crate::render::pstats::render(&session)));
    }
    let format = Format::from_name(renderer).ok_or_else(|| {
        Raise::ValueError(format!(
            "unknown renderer '{renderer}' (choose from {}, pstats)",
            Format::names().join(", ")
        ))
    })?;
    let mut options = RenderOptions {
        unicode: *unicode,
        color: *color,
        show_all: *show_all,
        ..Default::default()
    };
    for option in render_options {
        options.set(option).map_err(Raise::ValueError)?;
    }
    options.check().map_err(Raise::ValueError)?;
    Ok(Value::Str(render(&session, format, &options)))
}
