//! pyinstrument: a call-stack profiler for Python that embeds CPython.
//!
//! Data flows one way: sampler -> plain samples -> session -> tree ->
//! processors -> renderers. Every `unsafe` block lives under `ffi`.
#![deny(unsafe_code)]

pub mod api;
pub mod cli;
pub mod error;
#[allow(unsafe_code)]
pub mod ffi;
pub mod output;
pub mod processors;
pub mod pyisession;
pub mod render;
pub mod runner;
pub mod sample;
pub mod sampler;
pub mod session;
pub mod timeline;
pub mod tree;
