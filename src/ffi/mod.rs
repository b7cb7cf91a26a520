//! Every `unsafe` block and every CPython struct layout lives here. The rest
//! of the crate sees safe functions speaking in plain Rust types.
//!
//! - `layout/`: per-CPython-minor mirrors of the few struct fields we read.
//! - `frames`: the signal-safe frame walker over those layouts.
//! - `gil`: the capability (`Gil`) that GIL-bound functions take.
//! - `stack`: scoped, safe access to a live stack for samplers; clocks.
//! - `code_lifetime`: a signal-safe count of code objects freed.
//! - `gated_sampler`: signal mode on 3.7+: a sampling thread that signals
//!   the profiled thread only while it runs with the GIL, and reads its
//!   frames itself while it is blocked.
//! - `gil_sampler`: signal mode on 2.7 and 3.6: pending calls and the GIL.
//! - `task`: what the kernel says of a thread (`/proc`, its CPU clock).
//! - `setprofile`: the C-level `PyEval_SetProfile` hook.
//! - `threads`: what following many threads shares: recordings, names.
//! - `signal_env`: python's signal environment, restored at start-up.
//! - `interpreter`: starting, running and finalizing the embedded CPython.
//! - `dynload`: dlopen for the wheel's launcher (libpython, then us).

/// The C API bindings of the Python we link: python3-sys, or python27-sys
/// for 2.7. Nothing outside `ffi` uses them (tests may).
#[cfg(feature = "python27")]
pub use python27_sys as py;
#[cfg(feature = "python3")]
pub use python3_sys as py;

pub mod code_lifetime;
pub mod dynload;
pub mod frames;
pub mod gated_sampler;
pub mod gil;
#[cfg(any(py_2_7, py_3_6))]
pub mod gil_sampler;
pub mod interpreter;
pub mod layout;
pub mod native_module;
pub mod setprofile;
pub mod signal_env;
pub mod stack;
pub mod task;
pub mod threads;
