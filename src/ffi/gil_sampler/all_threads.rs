//! `--all-threads` in signal mode on CPython 2.7 and 3.6: the same engine
//! as [`GilSampler`](super::GilSampler), walking every thread at each tick.
//!
//! A tick always runs with the GIL, in normal context: on the main thread
//! in a pending call, or on the sampling thread after
//! `PyGILState_Ensure`. Either way no other thread can run Python code, so
//! every other thread's frames stand still, and the tick walks the
//! interpreter's thread list (`PyInterpreterState_ThreadHead`,
//! `PyThreadState_Next`) and reads each thread's frames. It skips states
//! without a frame: the sampling thread's own `PyGILState` state, states
//! not yet running Python, and states already cleared.
//!
//! Why the walk is sound without `head_mutex` (private to pystate.c), from
//! 2.7.18's and 3.6.15's sources and the installed binaries:
//!
//! - States are *unlinked* only with the GIL held: a thread ends with
//!   `PyThreadState_Clear` then `PyThreadState_DeleteCurrent`
//!   (`t_bootstrap`, `PyGILState_Release`), which unlinks and frees the
//!   state before it releases the GIL. So no state is freed under a walk.
//!   (A C extension may call `PyThreadState_Delete` on a state without the
//!   GIL, which the API allows; such a program can free a state under a
//!   walk. A limit, said in the README.)
//! - `thread.start_new_thread` links the new thread's state from the
//!   parent, with the GIL (`_PyThreadState_Prealloc`, in 2.7.18 too).
//! - `PyGILState_Ensure` on a thread without a state links one *without*
//!   the GIL (`PyThreadState_New`), at the head of the list, after filling
//!   its fields. 3.6 sets the new state's `next` before publishing it as
//!   the head. **2.7 does not**: in the installed 2.7.18 binary (gcc
//!   reordered the two stores of `new_threadstate`, which `head_mutex`
//!   allows) the head is published one instruction *before* its `next` is
//!   written, so a walk that lands in that window would follow an
//!   uninitialised pointer. So the walk checks every state before reading
//!   it: its memory must be readable (asked of the kernel, as the frame
//!   walker does) and its `interp` must be ours; a state that fails ends
//!   that walk early (counted: `cut_walks`), and the threads after it are
//!   sampled at the next tick.
//!
//! A thread is known by a capsule in its state dict (`tstate->dict`, made
//! if NULL: the thread is stopped and we hold the GIL). A state's address
//! and `thread_id` can both be reused by a new thread; the dict cannot
//! while the old thread's capsule lives, and its destructor runs when
//! CPython clears the ending thread's state (`PyThreadState_Clear`, on that
//! thread, with the GIL), where it reads the thread's monotonic clock and
//! `CLOCK_THREAD_CPUTIME_ID`: a thread's time ends when it does, not at the
//! last tick that saw it. A followed thread is matched by its state's
//! address, `thread_id` and dict, and a capsule not yet gone.
//!
//! Objects are made in a walk (the capsule, sometimes the dict) with an
//! exception set on purpose: both 2.7's and 3.6's collector never starts
//! while one is set (`_PyObject_GC_Malloc`/`_PyObject_GC_Alloc` check
//! `!PyErr_Occurred()`), and a collection could run finalizers, which can
//! release the GIL in the middle of a walk, or run Python code on the
//! sampling thread, where `threading.current_thread()` would make a
//! `_DummyThread` that `threading.enumerate()` shows. Storing the capsule
//! in an existing dict compares our str key with others only on equal
//! hashes.
//!
//! A thread's clocks start when profiling does (the threads alive then are
//! followed by a walk in `start`, on the profiling thread) or, for one
//! first seen later, at the previous walk but never before the kernel
//! created it (`/proc/self/task/TID/stat`), with its CPU clock from zero.
//! Its CPU clock is `pthread_getcpuclockid(thread_id)`: the thread is
//! alive while its state is linked and not cleared.
//!
//! Names: the tick notes `threading._active`'s names itself (no pending
//! call: the main thread may be blocked joining the threads, and 2.7 has
//! no `threading._dangling` to find an ended thread's object at stop),
//! reading dicts directly so that no Python code runs.

use super::super::frames::{memory_is_readable, runs_python};
use super::super::gil::ExceptionSetAside;
use super::super::layout::{Layout, THREAD_FIELDS};
use super::super::py;
use super::super::stack::{monotonic_ns, StoppedThread};
use super::super::task::{read_clock, thread_start_ns, tid_of_clock};
use super::super::threads::{note_running_names_quietly, ThreadRecording};
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::Arc;

extern "C" {
    fn PyInterpreterState_ThreadHead(interp: *mut c_void) -> *mut c_void;
    fn PyThreadState_Next(tstate: *mut c_void) -> *mut c_void;
}

const CAPSULE_NAME: &std::ffi::CStr = c"pyinstrument.thread";
/// Ticks after which a thread not found in `threading._active` is no
/// longer looked for there (it was not started by `threading`).
const NAME_TRIES: u32 = 200;

/// Where a thread's capsule records its end.
struct EndCell {
    /// The thread's kernel id: the destructor records only on it.
    tid: libc::pid_t,
    /// Profiling stopped and removed the capsule: record nothing.
    detached: AtomicBool,
    ended: AtomicBool,
    end_ns: AtomicU64,
    end_cpu_ns: AtomicU64,
}

struct Entry<T> {
    tstate: usize,
    ident: u64,
    dict: usize,
    cpu_clock: libc::clockid_t,
    end: Arc<EndCell>,
    state: Box<T>,
    seen: bool,
    /// Ticks left to find its name in `threading._active`.
    name_tries: u32,
    recording: ThreadRecording<()>,
}

/// Every followed thread; touched only with the GIL held.
pub(super) struct AllThreads<T> {
    interp: usize,
    layout: &'static Layout,
    key: *mut py::PyObject,
    make: fn() -> Box<T>,
    begin: fn(&mut T, u64, u64),
    tick: fn(&mut T, &StoppedThread<'_>),
    clock_ticks: u64,
    start_ns: u64,
    entries: Vec<Entry<T>>,
    finished: Vec<ThreadRecording<T>>,
    walked: bool,
    previous_walk_ns: u64,
    /// Walks ended early at a state that failed the checks.
    pub(super) cut_walks: u64,
}

impl<T> AllThreads<T> {
    /// With the GIL, on the thread that starts profiling.
    pub(super) unsafe fn new(
        layout: &'static Layout,
        make: fn() -> Box<T>,
        begin: fn(&mut T, u64, u64),
        tick: fn(&mut T, &StoppedThread<'_>),
    ) -> Result<AllThreads<T>, String> {
        let tstate = py::PyThreadState_Get() as usize;
        let interp = *((tstate + THREAD_FIELDS.interp) as *const usize);
        #[cfg(py_2_7)]
        let mut key = py::PyString_FromString(CAPSULE_NAME.as_ptr());
        #[cfg(py_3_6)]
        let mut key = py::PyUnicode_FromString(CAPSULE_NAME.as_ptr());
        if key.is_null() {
            py::PyErr_Clear();
            return Err("cannot make the thread key".to_string());
        }
        #[cfg(py_2_7)]
        py::PyString_InternInPlace(&mut key);
        #[cfg(py_3_6)]
        py::PyUnicode_InternInPlace(&mut key);
        Ok(AllThreads {
            interp,
            layout,
            key,
            make,
            begin,
            tick,
            clock_ticks: match libc::sysconf(libc::_SC_CLK_TCK) {
                ticks if ticks > 0 => ticks as u64,
                _ => 100,
            },
            start_ns: monotonic_ns(),
            entries: Vec::new(),
            finished: Vec::new(),
            walked: false,
            previous_walk_ns: 0,
            cut_walks: 0,
        })
    }

    /// One tick: samples every thread but `own` (the sampling thread's
    /// state, or 0 on the main thread), follows new ones, retires ended
    /// ones. With the GIL; runs no Python code.
    pub(super) unsafe fn walk(&mut self, own: usize) {
        let now_ns = monotonic_ns();
        for entry in self.entries.iter_mut() {
            entry.seen = false;
        }
        let fields = THREAD_FIELDS;
        let span = fields.thread_id.max(fields.dict).max(fields.interp) + 8;
        let mut tstate = PyInterpreterState_ThreadHead(self.interp as *mut c_void) as usize;
        let mut steps = 0;
        while tstate != 0 && steps < 100_000 {
            steps += 1;
            // See the module comment: a head linked without the GIL may not
            // have its `next` yet.
            if !memory_is_readable(tstate as *const u8, span)
                || *((tstate + fields.interp) as *const usize) != self.interp
            {
                self.cut_walks += 1;
                break;
            }
            let next = PyThreadState_Next(tstate as *mut c_void) as usize;
            if tstate != own && runs_python(tstate, self.layout) {
                let ident = *((tstate + fields.thread_id) as *const u64);
                let dict = *((tstate + fields.dict) as *const usize);
                let known = self.entries.iter().position(|e| {
                    e.tstate == tstate
                        && e.ident == ident
                        && e.dict == dict
                        && !e.end.ended.load(SeqCst)
                });
                let index = match known {
                    Some(i) => Some(i),
                    None => self.follow(tstate, ident, now_ns),
                };
                if let Some(i) = index {
                    let entry = &mut self.entries[i];
                    entry.seen = true;
                    let thread =
                        StoppedThread::lend(tstate as *const c_void, self.layout, entry.cpu_clock);
                    (self.tick)(&mut *entry.state, &thread);
                    entry.recording.last_ns = now_ns;
                    if let Some(cpu) = read_clock(entry.cpu_clock) {
                        entry.recording.last_cpu_ns = cpu;
                    }
                }
            }
            tstate = next;
        }
        let cut = tstate != 0;
        // Gone from the list (or cleared): ended. A cut walk did not see
        // every thread: only those whose capsule went are retired.
        let mut i = 0;
        while i < self.entries.len() {
            let entry = &self.entries[i];
            if entry.end.ended.load(SeqCst) || (!entry.seen && !cut) {
                let entry = self.entries.swap_remove(i);
                self.finished.push(retire(entry, true));
            } else {
                i += 1;
            }
        }
        self.walked = true;
        self.previous_walk_ns = now_ns;
        if self.entries.iter().any(|e| e.name_tries > 0) {
            let running = note_running_names_quietly();
            for entry in self.entries.iter_mut() {
                if running.contains(&entry.recording.ident) {
                    entry.name_tries = 0;
                } else {
                    entry.name_tries = entry.name_tries.saturating_sub(1);
                }
            }
        }
    }

    /// Follows a thread first seen now: gives it a capsule (and a state
    /// dict if it has none) and a state. None if that cannot be done now
    /// (tried again at the next tick).
    unsafe fn follow(&mut self, tstate: usize, ident: u64, now_ns: u64) -> Option<usize> {
        let mut clock: libc::clockid_t = 0;
        if libc::pthread_getcpuclockid(ident as libc::pthread_t, &mut clock) != 0 {
            return None;
        }
        let tid = tid_of_clock(clock);
        let end = Arc::new(EndCell {
            tid,
            detached: AtomicBool::new(false),
            ended: AtomicBool::new(false),
            end_ns: AtomicU64::new(0),
            end_cpu_ns: AtomicU64::new(0),
        });
        let dict = give_capsule(tstate, self.key, &end)?;
        let (first_ns, first_cpu_ns) = if self.walked {
            // Started after the previous walk, and not before the kernel
            // made it; its CPU clock started at zero with it. (A thread
            // made before, which ran no Python code until now, is counted
            // from the previous walk, and its CPU time from now.) The
            // kernel's start time is rounded down to a clock tick.
            let tick_ns = 1_000_000_000 / self.clock_ticks.max(1);
            match thread_start_ns(tid, self.clock_ticks) {
                Some(created) if created + tick_ns >= self.previous_walk_ns => {
                    (self.previous_walk_ns.max(created).min(now_ns), 0)
                }
                _ => (self.previous_walk_ns, read_clock(clock).unwrap_or(0)),
            }
        } else {
            (self.start_ns, read_clock(clock).unwrap_or(0))
        };
        let mut state = (self.make)();
        (self.begin)(&mut state, first_ns, first_cpu_ns);
        self.entries.push(Entry {
            tstate,
            ident,
            dict,
            cpu_clock: clock,
            end,
            state,
            seen: false,
            name_tries: NAME_TRIES,
            recording: ThreadRecording::begun(
                ident,
                tid as i64,
                first_ns,
                now_ns,
                first_cpu_ns,
                self.walked,
            ),
        });
        Some(self.entries.len() - 1)
    }

    /// Every thread's recording; those still alive end now, and their
    /// capsules are taken out of their dicts. With the GIL, sampling
    /// stopped.
    pub(super) unsafe fn finish(mut self) -> Vec<ThreadRecording<T>> {
        let now = monotonic_ns();
        let _aside = ExceptionSetAside::new();
        for mut entry in std::mem::take(&mut self.entries) {
            if !entry.end.ended.load(SeqCst) {
                entry.recording.last_ns = now;
                if let Some(cpu) = read_clock(entry.cpu_clock) {
                    entry.recording.last_cpu_ns = entry.recording.last_cpu_ns.max(cpu);
                }
                // Not ended: its state is not cleared, so the dict (ours,
                // or one it had) is alive.
                entry.end.detached.store(true, SeqCst);
                if py::PyDict_DelItem(entry.dict as *mut py::PyObject, self.key) != 0 {
                    py::PyErr_Clear();
                }
            }
            self.finished.push(retire(entry, false));
        }
        py::Py_DECREF(self.key);
        std::mem::take(&mut self.finished)
    }
}

/// A followed thread's recording, with its own end if its capsule went.
fn retire<T>(entry: Entry<T>, gone: bool) -> ThreadRecording<T> {
    let mut r = entry.recording;
    if entry.end.ended.load(SeqCst) {
        r.last_ns = entry.end.end_ns.load(SeqCst).max(r.first_ns);
        r.last_cpu_ns = entry.end.end_cpu_ns.load(SeqCst).max(r.first_cpu_ns);
        r.ended = true;
    } else if gone {
        r.ended = true;
    }
    r.with_state(entry.state)
}

/// Puts a capsule holding `end` into the stopped thread's state dict,
/// making the dict if it has none. Returns the dict; None if an object
/// could not be made. The collector cannot start meanwhile (an exception
/// is set, see the module comment); the caller's exception state is kept.
unsafe fn give_capsule(tstate: usize, key: *mut py::PyObject, end: &Arc<EndCell>) -> Option<usize> {
    let _aside = ExceptionSetAside::new();
    // Stored as is: no exception object is made.
    py::Py_INCREF(py::PyExc_RuntimeError);
    py::PyErr_Restore(
        py::PyExc_RuntimeError,
        std::ptr::null_mut(),
        std::ptr::null_mut(),
    );
    let field = (tstate + THREAD_FIELDS.dict) as *mut usize;
    let mut dict = *field;
    let mut made = false;
    if dict == 0 {
        dict = py::PyDict_New() as usize;
        made = dict != 0;
    }
    let mut given = None;
    if dict != 0 {
        let cell = Arc::into_raw(Arc::clone(end)) as *mut c_void;
        let capsule = py::PyCapsule_New(cell, CAPSULE_NAME.as_ptr(), Some(capsule_gone));
        if capsule.is_null() {
            drop(Arc::from_raw(cell as *const EndCell));
        } else {
            // A failure frees the capsule here, on another thread than its
            // own: its destructor records nothing.
            if py::PyDict_SetItem(dict as *mut py::PyObject, key, capsule) == 0 {
                given = Some(dict);
            }
            py::Py_DECREF(capsule);
        }
    }
    if made {
        if given.is_some() {
            // The thread's own from now on, as if `PyThreadState_GetDict`
            // had made it.
            *field = dict;
        } else {
            py::Py_DECREF(dict as *mut py::PyObject);
        }
    }
    given
}

/// The capsule's destructor: CPython clears the thread's state dict on the
/// ending thread, with the GIL. Records that thread's end; no allocation.
unsafe extern "C" fn capsule_gone(capsule: *mut py::PyObject) {
    let cell = py::PyCapsule_GetPointer(capsule, CAPSULE_NAME.as_ptr()) as *const EndCell;
    if cell.is_null() {
        py::PyErr_Clear();
        return;
    }
    let cell = Arc::from_raw(cell);
    if !cell.detached.load(SeqCst) && libc::gettid() == cell.tid {
        cell.end_ns.store(monotonic_ns(), SeqCst);
        let cpu = read_clock(libc::CLOCK_THREAD_CPUTIME_ID).unwrap_or(0);
        cell.end_cpu_ns.store(cpu, SeqCst);
        cell.ended.store(true, SeqCst);
    }
}
