//! Safe, scoped access to the frames of a running Python thread, for code
//! that runs inside the signal handler or the profile callback.
//!
//! `StoppedThread::with_live_stack` walks the frames and lends them to a closure for the
//! duration of that call only: the strings they point into belong to code
//! objects that the interrupted thread keeps alive while those frames are on
//! its stack, so the borrow cannot outlive the memory it reads.

use super::code_lifetime::freed_code_objects;
use super::frames::{names_include, raw_str, walk_thread, RawFrame};
use super::layout::Layout;
use std::ffi::c_void;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicPtr, Ordering};

/// A thread whose frames can be read right now, lent to a sampler's tick by
/// the `ffi` code that made reading them sound: the thread itself, in its
/// own signal handler or profile callback, or the sampling thread while the
/// walked thread cannot take the GIL (`ffi::gated_sampler`). Only `ffi`
/// makes one, and it cannot outlive the tick it is lent to, so frames are
/// never read from the wrong thread or at the wrong time.
pub struct StoppedThread<'tick> {
    tstate: *const c_void,
    layout: &'static Layout,
    /// The thread's CPU-time clock (`pthread_getcpuclockid`, or
    /// `CLOCK_THREAD_CPUTIME_ID` when the reader is the thread itself).
    cpu_clock: libc::clockid_t,
    _lent: PhantomData<&'tick ()>,
}

impl StoppedThread<'_> {
    /// # Safety
    /// `tstate` is a `PyThreadState*` of the running interpreter whose
    /// frames cannot change while the value lives (see the type's comment),
    /// and `layout` is the layout checked against that interpreter.
    /// `cpu_clock` is that thread's CPU-time clock, readable from the
    /// thread the value is lent on.
    pub(super) unsafe fn lend(
        tstate: *const c_void,
        layout: &'static Layout,
        cpu_clock: libc::clockid_t,
    ) -> Self {
        StoppedThread {
            tstate,
            layout,
            cpu_clock,
            _lent: PhantomData,
        }
    }

    /// The CPU time this thread has used, in nanoseconds, read from its
    /// own CPU-time clock whichever thread asks (the kernel keeps it per
    /// thread; `clock_gettime` is signal safe and allocates nothing). The
    /// thread cannot have ended: it is lent. 0 if the clock cannot be read.
    pub fn cpu_ns(&self) -> u64 {
        clock_ns(self.cpu_clock)
    }

    /// Walks the thread's frames into `scratch` and lends them to `visit`.
    /// A walk abandoned because the stack was caught in a transition lends
    /// an empty stack. No allocation: signal safe as long as `visit` is.
    pub fn with_live_stack<R>(
        &self,
        scratch: &mut [RawFrame],
        visit: impl FnOnce(&LiveStack<'_>) -> R,
    ) -> R {
        let code_generation = freed_code_objects();
        // Sound by the contract of `lend`.
        let count = unsafe { walk_thread(self.layout, self.tstate, scratch) };
        visit(&LiveStack {
            frames: &scratch[..count],
            layout: self.layout,
            code_generation,
        })
    }
}

/// The interned str `__tracebackhide__`, taken (and kept alive for good)
/// when the first sampler starts; null before. See
/// [`LiveFrame::hides_from_traceback`].
static TRACEBACK_HIDE_NAME: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());

/// Makes [`LiveFrame::hides_from_traceback`] work from now on.
pub fn prepare_traceback_hide(_gil: super::gil::Gil<'_>) {
    if !TRACEBACK_HIDE_NAME.load(Ordering::SeqCst).is_null() {
        return;
    }
    // With the GIL (the token says so). The reference is never released.
    #[cfg(py_2_7)]
    let name = unsafe { super::py::PyString_InternFromString(c"__tracebackhide__".as_ptr()) };
    #[cfg(not(py_2_7))]
    let name = unsafe { super::py::PyUnicode_InternFromString(c"__tracebackhide__".as_ptr()) };
    if name.is_null() {
        unsafe { super::py::PyErr_Clear() };
        return;
    }
    TRACEBACK_HIDE_NAME.store(name as *mut c_void, Ordering::SeqCst);
}

/// A string of a live frame: a str object of its code object, or bytes the
/// caller owns (a built-in's name). Nothing is read from the object until
/// asked, and only while the frame is lent.
#[derive(Clone, Copy)]
pub struct LiveStr<'a> {
    object: *const c_void,
    /// Set whenever `object` is.
    layout: Option<&'a Layout>,
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
            layout: None,
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
            layout: None,
            owned: bytes,
            simulated_hash: Some(hash),
        }
    }

    /// A str object of a frame being lent.
    fn of_object(layout: &'a Layout, object: *const c_void) -> LiveStr<'a> {
        LiveStr {
            object,
            layout: Some(layout),
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
        let Some(layout) = self.layout.filter(|_| !self.object.is_null()) else {
            return StrView {
                kind: 1,
                bytes: self.owned,
                hash: -1,
            };
        };
        // The object belongs to a code object on the stack of the thread
        // being walked, which is stopped for as long as the frame is lent.
        let raw = unsafe { raw_str(layout, self.object) };
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
    /// The code object (for its local variable names), if there is one.
    code: Option<(&'a Layout, *const c_void)>,
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
            code: None,
        }
    }

    /// A frame of code object `code_addr` whose strings are stand-ins
    /// ([`LiveStr::simulated`]), for unit tests that never touch memory.
    #[cfg(test)]
    pub fn simulated(
        code_addr: usize,
        first_line: i32,
        name: LiveStr<'a>,
        file: LiveStr<'a>,
    ) -> LiveFrame<'a> {
        LiveFrame {
            code_addr,
            first_line,
            name,
            file,
            code: None,
        }
    }

    /// Whether the function assigns a local variable `__tracebackhide__`
    /// (pytest's convention for "leave me out of tracebacks"): reports leave
    /// it out too. False until a sampler has started
    /// ([`prepare_traceback_hide`]). Reads the code object's name tuple, a
    /// few dozen words: call it once per distinct frame, not per sample.
    /// Signal safe.
    pub fn hides_from_traceback(&self) -> bool {
        let Some((layout, code)) = self.code else {
            return false;
        };
        let marker = TRACEBACK_HIDE_NAME.load(Ordering::Relaxed);
        // The tuple belongs to a code object on the stack being lent.
        unsafe { names_include(layout, code, marker) }
    }
}

/// A thread's stack as it was walked, lent for the duration of a
/// [`StoppedThread::with_live_stack`] call.
pub struct LiveStack<'a> {
    /// Innermost first.
    frames: &'a [RawFrame],
    layout: &'a Layout,
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
            name: LiveStr::of_object(self.layout, raw.name),
            file: LiveStr::of_object(self.layout, raw.file),
            code: Some((self.layout, raw.code)),
        }
    }
}

/// Monotonic clock in nanoseconds. Signal safe (clock_gettime is).
pub fn monotonic_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

/// CPU time of the whole process in nanoseconds.
pub fn process_cpu_ns() -> u64 {
    clock_ns(libc::CLOCK_PROCESS_CPUTIME_ID)
}

/// CPU time of the calling thread in nanoseconds. Signal safe.
pub fn thread_cpu_ns() -> u64 {
    clock_ns(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// The calling thread's CPU-time clock, readable from any thread of the
/// process for as long as this one lives.
pub(super) fn own_cpu_clock() -> Result<libc::clockid_t, String> {
    let mut clock: libc::clockid_t = 0;
    if unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) } != 0 {
        return Err("cannot read this thread's CPU clock".to_string());
    }
    Ok(clock)
}

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
