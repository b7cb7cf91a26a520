//! Safe, scoped access to the frames of a running Python thread, for code
//! that runs inside the signal handler or the profile callback.
//!
//! `with_live_stack` walks the frames and lends them to a closure for the
//! duration of that call only: the strings they point into belong to code
//! objects that the interrupted thread keeps alive while those frames are on
//! its stack, so the borrow cannot outlive the memory it reads.

use super::code_lifetime::freed_code_objects;
use super::frames::{raw_str, walk_thread, RawFrame};
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

/// A string of a live frame: a str object of its code object, or bytes the
/// caller owns (a built-in's name). Nothing is read from the object until
/// asked, and only while the frame is lent.
#[derive(Clone, Copy)]
pub struct LiveStr<'a> {
    object: *const c_void,
    owned: &'a [u8],
    /// Unit tests of the recorder stand in for str objects: `owned` is
    /// then the content of the "object" at `object`, with this hash.
    #[cfg(test)]
    simulated_hash: Option<isize>,
}

/// A string's content: raw code units of `kind` bytes each, and the hash
/// CPython cached in the object (-1 if none, or if the caller owns it).
#[derive(Clone, Copy)]
pub struct StrView<'a> {
    pub kind: u8,
    pub bytes: &'a [u8],
    pub hash: isize,
}

impl<'a> LiveStr<'a> {
    /// Builds a LiveStr over bytes the caller owns (a built-in's name).
    pub fn latin1(bytes: &'a [u8]) -> LiveStr<'a> {
        LiveStr {
            object: std::ptr::null(),
            owned: bytes,
            #[cfg(test)]
            simulated_hash: None,
        }
    }

    /// A stand-in for a str object at `identity` holding `bytes` (latin-1)
    /// with CPython hash `hash`, for unit tests that never touch memory.
    #[cfg(test)]
    pub fn simulated(bytes: &'a [u8], identity: usize, hash: isize) -> LiveStr<'a> {
        LiveStr {
            object: identity as *const c_void,
            owned: bytes,
            simulated_hash: Some(hash),
        }
    }

    /// A str object of a frame being lent.
    fn of_object(object: *const c_void) -> LiveStr<'a> {
        LiveStr {
            object,
            // What `read` gives if there is no object after all.
            owned: b"???",
            #[cfg(test)]
            simulated_hash: None,
        }
    }

    /// The str object's address, 0 for owned bytes: while the frame is on
    /// the stack, no other string can have it. Reads nothing.
    pub fn identity(&self) -> usize {
        self.object as usize
    }

    /// Reads the string (`???` if it is not a string it can read). Signal
    /// safe.
    pub fn read(&self) -> StrView<'a> {
        #[cfg(test)]
        if let Some(hash) = self.simulated_hash {
            return StrView {
                kind: 1,
                bytes: self.owned,
                hash,
            };
        }
        if self.object.is_null() {
            return StrView {
                kind: 1,
                bytes: self.owned,
                hash: -1,
            };
        }
        // The object belongs to a code object on the stack of the thread
        // being walked, which is stopped for as long as the frame is lent.
        let raw = unsafe { raw_str(self.object) };
        if raw.data.is_null() || !matches!(raw.kind, 1 | 2 | 4) {
            return StrView {
                kind: 1,
                bytes: b"???",
                hash: -1,
            };
        }
        StrView {
            kind: raw.kind,
            bytes: unsafe { std::slice::from_raw_parts(raw.data, raw.len * raw.kind as usize) },
            hash: raw.hash,
        }
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

impl<'a> LiveFrame<'a> {
    /// A frame of no code object, named by bytes the caller owns (a
    /// built-in leaf, a placeholder).
    pub fn owned(name: &'a [u8], file: &'a [u8]) -> LiveFrame<'a> {
        LiveFrame {
            code_addr: 0,
            first_line: 0,
            name: LiveStr::latin1(name),
            file: LiveStr::latin1(file),
        }
    }
}

/// A thread's stack as it was walked, lent for the duration of a
/// [`with_live_stack`] call.
pub struct LiveStack<'a> {
    /// Innermost first.
    frames: &'a [RawFrame],
    code_generation: Option<u64>,
}

impl<'a> LiveStack<'a> {
    /// How many frames (at most the scratch buffer's length: deeper stacks
    /// keep their outermost frames).
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// A number that changes whenever a code object is freed, read just
    /// before the walk (see `ffi::code_lifetime`); `None` when unknown. While
    /// it stays the same, a code object at an address seen before is the
    /// object seen before.
    pub fn code_generation(&self) -> Option<u64> {
        self.code_generation
    }

    /// Frame `index`, counted from the outermost (0) inwards.
    pub fn from_outermost(&self, index: usize) -> LiveFrame<'a> {
        let raw = &self.frames[self.frames.len() - 1 - index];
        LiveFrame {
            code_addr: raw.code as usize,
            first_line: raw.first_line,
            name: LiveStr::of_object(raw.name),
            file: LiveStr::of_object(raw.file),
        }
    }
}

/// Walks `thread`'s frames into `scratch` and lends them to `visit`. Call
/// only on the thread `thread` belongs to (from its signal handler or its
/// profile callback), or from the sampling thread while that thread cannot
/// take the GIL (`ffi::gated_sampler`). A walk abandoned because the stack was caught in a
/// transition lends an empty stack. No allocation: signal safe as long as
/// `visit` is.
pub fn with_live_stack<R>(
    thread: ThreadStateRef,
    scratch: &mut [RawFrame],
    visit: impl FnOnce(&LiveStack<'_>) -> R,
) -> R {
    let code_generation = freed_code_objects();
    let count = unsafe { walk_thread(thread.0 as *const c_void, scratch) };
    visit(&LiveStack {
        frames: &scratch[..count],
        code_generation,
    })
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
