//! Safe, scoped access to the frames of a running Python thread, for code
//! that runs inside the signal handler or the profile callback.
//!
//! `with_live_stack` walks the frames and lends them to a closure for the
//! duration of the call only: the strings they point into belong to code
//! objects that the interrupted thread keeps alive while those frames are on
//! its stack, so the borrow cannot outlive the memory it reads.

use super::frames::{walk_thread, RawFrame, RawStr};
use std::ffi::c_void;

/// The interpreter state of one thread, captured on that thread while it held
/// the GIL. Only meaningful on that thread, while it lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThreadStateRef(usize);

impl ThreadStateRef {
    /// The calling thread's state. The caller holds the GIL.
    pub fn current() -> ThreadStateRef {
        ThreadStateRef(unsafe { super::py::PyThreadState_Get() } as usize)
    }
}

/// A string inside a live Python object: raw code units of `kind` bytes each.
#[derive(Clone, Copy)]
pub struct LiveStr<'a> {
    pub kind: u8,
    pub bytes: &'a [u8],
}

impl<'a> LiveStr<'a> {
    fn from_raw(raw: RawStr) -> LiveStr<'a> {
        if raw.data.is_null() || !matches!(raw.kind, 1 | 2 | 4) {
            return LiveStr {
                kind: 1,
                bytes: b"???",
            };
        }
        let bytes = unsafe { std::slice::from_raw_parts(raw.data, raw.len * raw.kind as usize) };
        LiveStr {
            kind: raw.kind,
            bytes,
        }
    }

    /// Builds a LiveStr over bytes the caller owns (a built-in's name).
    pub fn latin1(bytes: &'a [u8]) -> LiveStr<'a> {
        LiveStr { kind: 1, bytes }
    }
}

/// One frame of a live stack.
#[derive(Clone, Copy)]
pub struct LiveFrame<'a> {
    pub code_addr: usize,
    pub first_line: i32,
    pub name: LiveStr<'a>,
    pub file: LiveStr<'a>,
}

/// Walks `thread`'s frames into `scratch` and lends them, innermost first,
/// to `visit`. Call only on the thread `thread` belongs to (from its signal
/// handler or its profile callback). No allocation: signal safe as long as
/// `visit` is.
pub fn with_live_stack<R>(
    thread: ThreadStateRef,
    scratch: &mut [RawFrame],
    visit: impl FnOnce(&mut dyn Iterator<Item = LiveFrame<'_>>) -> R,
) -> R {
    let count = unsafe { walk_thread(thread.0 as *const c_void, scratch) };
    let mut frames = scratch[..count].iter().map(|raw| LiveFrame {
        code_addr: raw.code as usize,
        first_line: raw.first_line,
        name: LiveStr::from_raw(raw.name),
        file: LiveStr::from_raw(raw.file),
    });
    visit(&mut frames)
}

/// Monotonic clock in nanoseconds. Signal safe (clock_gettime is).
pub fn monotonic_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

/// CPU time of the whole process in nanoseconds.
pub fn process_cpu_ns() -> u64 {
    clock_ns(libc::CLOCK_PROCESS_CPUTIME_ID)
}

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
