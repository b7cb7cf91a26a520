//! Every `unsafe` block and every CPython struct layout lives here. The rest
//! of the crate sees safe functions speaking in plain Rust types.
//!
//! - `layout/`: per-CPython-minor mirrors of the few struct fields we read.
//! - `frames`: the signal-safe frame walker over those layouts.
//! - `stack`: scoped, safe access to a live stack for samplers; clocks.
//! - `code_lifetime`: a signal-safe count of code objects freed.
//! - `timer`: the per-thread SIGPROF timer and its handler.
//! - `gil_sampler`: Python 2.7's signal mode, a GIL-holding sampling thread.
//! - `setprofile`: the C-level `PyEval_SetProfile` hook.
//! - `interpreter`: starting, running and finalizing the embedded CPython.

/// The C API bindings of the Python we link: python3-sys, or python27-sys
/// for 2.7. Nothing outside `ffi` uses them (tests may).
#[cfg(feature = "python27")]
pub use python27_sys as py;
#[cfg(feature = "python3")]
pub use python3_sys as py;

pub mod code_lifetime;
pub mod frames;
#[cfg(py_2_7)]
pub mod gil_sampler;
pub mod interpreter;
pub mod layout;
pub mod native_module;
pub mod setprofile;
pub mod stack;
pub mod timer;
