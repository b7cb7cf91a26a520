//! Every `unsafe` block and every CPython struct layout lives here. The rest
//! of the crate sees safe functions speaking in plain Rust types.
//!
//! - `layout/`: per-CPython-minor mirrors of the few struct fields we read.
//! - `frames`: the signal-safe frame walker over those layouts.
//! - `stack`: scoped, safe access to a live stack for samplers; clocks.
//! - `timer`: the per-thread SIGPROF timer and its handler.
//! - `setprofile`: the C-level `PyEval_SetProfile` hook.
//! - `interpreter`: starting, running and finalizing the embedded CPython.

pub mod frames;
pub mod interpreter;
pub mod layout;
pub mod native_module;
pub mod setprofile;
pub mod stack;
pub mod timer;
