//! `--all-threads` in setprofile mode, on every CPython: one C profile
//! function with no object, installed in every thread state of the
//! interpreter, so that each thread samples itself at its own events.
//! `sys.getprofile()` stays None on every thread (it shows
//! `c_profileobj`, which stays NULL) and `threading.getprofile()` is not
//! touched (`threading._profile_hook` is only read by `threading`).
//!
//! Which states get it, always from a thread that holds the GIL:
//! - at start, every state of the caller's interpreter: the caller's through
//!   the public `PyEval_SetProfile` (as the one-thread hook does), the
//!   others as below;
//! - afterwards, every state linked since. Every CPython supported links a
//!   new thread's state at the head of the interpreter's list from the
//!   *parent* thread, with the GIL held, before the thread runs
//!   (`_PyThreadState_Prealloc` in `thread.start_new_thread` on 2.7-3.11,
//!   `_PyThreadState_New` in 3.12's `start_new_thread` and 3.13+'s
//!   `start_joinable_thread`). So at every event the callback compares the
//!   head (`PyInterpreterState_ThreadHead`, a pointer read) with the head it
//!   last saw; when it changed, it walks the list and installs the function
//!   in each state that has none (`c_profilefunc` NULL; a state with the
//!   program's own profile function is left alone). The parent's C-return
//!   event of `start_new_thread` comes before the new thread can take the
//!   GIL, so a thread is followed from its first Python call. States linked
//!   by C code (`PyGILState_Ensure`) are picked up at the next event of any
//!   followed thread.
//!
//! How a function is installed in another thread's state:
//! - 3.9-3.15 export `_PyEval_SetProfile(tstate, func, arg)` (checked with
//!   `nm -D` on pyenv's 3.9-3.13 `libpython3.x.so` and Debian's 3.14 and
//!   3.15; 3.13+ still export it though its declaration moved to the
//!   internal headers). It is CPython's own code: on 3.12+ it also counts
//!   the thread in `interp->sys_profiling_threads` and keeps the
//!   `sys.monitoring` events of the legacy profiler on (interpreter-wide;
//!   each event checks `tstate->c_profilefunc`). Like
//!   `PyEval_SetProfileAllThreads` it raises the `sys.setprofile` audit
//!   event on the calling thread.
//! - 2.7 and 3.6-3.8 export nothing that takes another thread's state, so
//!   the fields CPython's `PyEval_SetProfile` writes are written here, as
//!   it writes them: `c_profilefunc` and `use_tracing` (set while a trace or
//!   profile function is set; `c_profileobj` stays NULL), at offsets proven
//!   by the probe (`layout::PROFILE_FIELDS`).
//!
//! Why the states walked stay alive. The list is read with the GIL held,
//! and on 3.7+ with `HEAD_LOCK` too around each read of the head or a
//! `next` pointer, as CPython's own `PyEval_SetProfileAllThreads` (3.12+)
//! does: `HEAD_LOCK` is never held while installing, since 3.12+'s
//! `_PyEval_SetProfile` takes it itself (`instrument_all_executing_code_
//! objects`). A linked state is unlinked and freed by its own thread while
//! that thread holds the GIL (2.7-3.8 free it before releasing the GIL;
//! 3.9+ unlink it before and free it after), so not while we hold the GIL;
//! the exception is a state created and cleared by C code, which the C
//! API lets it delete without the GIL (`PyThreadState_Delete`): `HEAD_LOCK`
//! covers that on 3.7+, and 2.7 and 3.6 have no lock we can name (their
//! `head_mutex` is static in pystate.c), so there the GIL alone covers
//! the states of `threading`. Each candidate is checked to be in the list
//! again right before its install (nothing runs between), because an
//! install can run Python code (an audit hook) and let other threads run.
//!
//! Each thread's state (recorder, scratch, clocks) is made at its first
//! event of the run, kept in the run's registry (so that recordings of
//! threads that ended survive) and found again through a thread-local
//! tagged with the run's generation: a thread-local of an earlier run is
//! never used. Its end: at that first event a capsule is put in the
//! thread's own state dict (`PyThreadState_GetDict`, on the thread, with
//! the GIL); CPython clears that dict on the ending thread, with the GIL,
//! and the capsule's destructor records the thread's monotonic and CPU
//! clocks then. A thread still running at stop ends at stop.
//!
//! Code that can run Python code (making the dict, an audit hook while
//! installing) can let other threads run, and so `stop` too: the callback
//! keeps the run alive (`Arc`) over such code and checks that the run is
//! still going before it touches a thread's state again.

use super::{event_kind, Event, PyEval_SetProfile, TraceFunc};
use crate::ffi::gil::{ExceptionSetAside, Gil};
use crate::ffi::layout::Layout;
use crate::ffi::py;
use crate::ffi::stack::{monotonic_ns, thread_cpu_ns};
use crate::ffi::task::read_clock;
use crate::ffi::threads::{note_running_thread_name, ThreadRecording};
use std::cell::Cell;
use std::os::raw::{c_int, c_ulong, c_void};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard};

extern "C" {
    fn PyInterpreterState_ThreadHead(interp: *mut c_void) -> *mut c_void;
    fn PyThreadState_Next(tstate: *mut c_void) -> *mut c_void;
    fn PyThread_get_thread_ident() -> c_ulong;
}

#[cfg(any(py_2_7, py_3_6, py_3_7, py_3_8))]
extern "C" {
    fn PyInterpreterState_Head() -> *mut c_void;
    fn PyInterpreterState_Next(interp: *mut c_void) -> *mut c_void;
}

#[cfg(not(any(py_2_7, py_3_6, py_3_7, py_3_8)))]
extern "C" {
    fn _PyEval_SetProfile(
        tstate: *mut c_void,
        func: Option<TraceFunc>,
        arg: *mut py::PyObject,
    ) -> c_int;
}

#[cfg(not(any(py_2_7, py_3_6, py_3_13, py_3_14, py_3_15)))]
extern "C" {
    fn PyThread_acquire_lock(lock: *mut c_void, waitflag: c_int) -> c_int;
    fn PyThread_release_lock(lock: *mut c_void);
}

#[cfg(any(py_3_13, py_3_14, py_3_15))]
extern "C" {
    fn PyMutex_Lock(mutex: *mut u8);
    fn PyMutex_Unlock(mutex: *mut u8);
}

/// The run in progress (an `Arc<Run<T>>` turned into a raw pointer), or
/// null. One at a time: the function is installed interpreter-wide.
static CURRENT: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
/// Generations of runs, so that a thread-local of an earlier run is known.
static GENERATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's (generation, `*mut Entry<T>`) in the run of that
    /// generation. Const-initialised and without a destructor: a plain load.
    static MINE: Cell<(u64, *mut c_void)> = const { Cell::new((0, std::ptr::null_mut())) };
}

/// How the state of a thread is made at its first event:
/// `(first_ns, first_cpu_ns)` are where its clocks start.
pub type MakeState<T> = Box<dyn Fn(u64, u64) -> Box<T>>;

/// The fields every run's callback reads first, whatever its `T`.
#[repr(C)]
struct Header {
    /// The callback this run installed (`callback::<T>`): a callback of
    /// another `T` finding this run leaves it alone.
    callback: usize,
    generation: u64,
    interp: usize,
    /// The head of the thread list when last walked.
    last_head: AtomicUsize,
    stopping: AtomicBool,
}

#[repr(C)]
struct Run<T> {
    header: Header,
    layout: &'static Layout,
    head_lock: HeadLock,
    start_ns: u64,
    make: MakeState<T>,
    on_event: fn(&mut T, &Event) -> bool,
    /// Boxed: each thread's thread-local points at its entry, which must
    /// not move when the vector grows.
    #[allow(clippy::vec_box)]
    threads: Mutex<Vec<Box<Entry<T>>>>,
    /// States in the list at start, other than the caller's: their threads
    /// are followed from the start, not from their first event.
    at_start: Mutex<Vec<(usize, Option<u64>)>>,
}

// The run is only touched with the GIL held (the callback, install, stop),
// and its registry and lists are behind mutexes.
unsafe impl<T> Send for Run<T> {}
unsafe impl<T> Sync for Run<T> {}

struct Entry<T> {
    state: Box<T>,
    /// Its `PyThreadState*`, and `id` where the layout knows it (3.7+).
    tstate: usize,
    tstate_id: Option<u64>,
    ident: u64,
    native_id: i64,
    cpu_clock: libc::clockid_t,
    first_ns: u64,
    first_cpu_ns: u64,
    started_later: bool,
    end: Arc<EndCell>,
    name_noted: bool,
}

/// Where a thread's capsule records its end.
struct EndCell {
    tid: i64,
    cpu_clock: libc::clockid_t,
    /// The thread's `c_profilefunc`, and our callback: at its end, another
    /// function there means the program replaced ours.
    profile_function: usize,
    callback: usize,
    replaced: AtomicBool,
    ended: AtomicBool,
    end_ns: AtomicU64,
    end_cpu_ns: AtomicU64,
}

fn lock<X>(mutex: &Mutex<X>) -> MutexGuard<'_, X> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// `HEAD_LOCK`, where the layout names it (3.7+).
#[derive(Clone, Copy)]
enum HeadLock {
    None,
    #[cfg_attr(any(py_2_7, py_3_6, py_3_13, py_3_14, py_3_15), allow(dead_code))]
    ThreadLock(usize),
    #[cfg_attr(not(any(py_3_13, py_3_14, py_3_15)), allow(dead_code))]
    PyMutex(usize),
}

impl HeadLock {
    fn locate(layout: &Layout) -> Result<HeadLock, String> {
        let Some(threads) = layout.threads else {
            return Ok(HeadLock::None);
        };
        let runtime = crate::ffi::layout::running::runtime_state()?;
        Ok(match threads.head_lock_kind {
            crate::ffi::layout::HeadLockKind::ThreadLock => {
                let lock = unsafe { *(runtime.add(threads.head_lock) as *const usize) };
                if lock == 0 {
                    return Err("the interpreter has no thread-list lock where expected".into());
                }
                HeadLock::ThreadLock(lock)
            }
            crate::ffi::layout::HeadLockKind::PyMutex => {
                HeadLock::PyMutex(runtime as usize + threads.head_lock)
            }
        })
    }

    /// Runs `read` with the lock held (as CPython's own `HEAD_LOCK`, which
    /// threads take while holding the GIL). `read` runs no Python code.
    unsafe fn with<R>(self, read: impl FnOnce() -> R) -> R {
        match self {
            HeadLock::None => read(),
            #[cfg(not(any(py_2_7, py_3_6, py_3_13, py_3_14, py_3_15)))]
            HeadLock::ThreadLock(lock) => {
                PyThread_acquire_lock(lock as *mut c_void, 1);
                let result = read();
                PyThread_release_lock(lock as *mut c_void);
                result
            }
            #[cfg(any(py_3_13, py_3_14, py_3_15))]
            HeadLock::PyMutex(mutex) => {
                PyMutex_Lock(mutex as *mut u8);
                let result = read();
                PyMutex_Unlock(mutex as *mut u8);
                result
            }
            #[allow(unreachable_patterns)]
            _ => read(),
        }
    }
}

/// `--all-threads` in setprofile mode. See the module comment.
pub struct AllThreadsHook<T: 'static> {
    run: *const Run<T>,
}

/// What `AllThreadsHook::uninstall` gives back.
pub struct AllThreadsStop<T> {
    pub threads: Vec<ThreadRecording<T>>,
    /// Threads whose profile function the program replaced
    /// (`sys.setprofile` there): they stopped early.
    pub replaced: usize,
}

impl<T: 'static> AllThreadsHook<T> {
    /// Installs the profile function in every thread state of the calling
    /// thread's interpreter (the caller holds the GIL). `make` makes a
    /// thread's state at its first event; `on_event` is called on every
    /// event of every followed thread and says whether it sampled.
    pub fn install(
        gil: Gil<'_>,
        make: MakeState<T>,
        on_event: fn(&mut T, &Event) -> bool,
    ) -> Result<AllThreadsHook<T>, String> {
        let layout = gil.layout()?;
        if !CURRENT.load(SeqCst).is_null() {
            return Err("another profiler already follows every thread".to_string());
        }
        let head_lock = HeadLock::locate(layout)?;
        let callback: TraceFunc = callback::<T>;
        let caller = unsafe { py::PyThreadState_Get() } as usize;
        let interp = unsafe { interpreter_of(caller, head_lock) };
        if interp == 0 {
            return Err("cannot find the interpreter of the calling thread".to_string());
        }
        let start_ns = monotonic_ns();
        let run = Arc::new(Run {
            header: Header {
                callback: callback as usize,
                generation: GENERATIONS.fetch_add(1, SeqCst) + 1,
                interp,
                last_head: AtomicUsize::new(0),
                stopping: AtomicBool::new(false),
            },
            layout,
            head_lock,
            start_ns,
            make,
            on_event,
            threads: Mutex::new(Vec::new()),
            at_start: Mutex::new(Vec::new()),
        });
        unsafe {
            // The caller first, through the public function, as the
            // one-thread hook does; then it is the caller's first event.
            begin_thread(&run, caller, start_ns, thread_cpu_ns(), false);
            let pointer = Arc::into_raw(Arc::clone(&run));
            CURRENT.store(pointer as *mut c_void, SeqCst);
            PyEval_SetProfile(Some(callback), std::ptr::null_mut());
            if profile_function(layout, caller) != callback as usize {
                // CPython did not take it (an audit hook refused it).
                CURRENT.store(std::ptr::null_mut(), SeqCst);
                drop(Arc::from_raw(pointer));
                run.header.stopping.store(true, SeqCst);
                MINE.with(|mine| mine.set((0, std::ptr::null_mut())));
                return Err("cannot install the profile function (PyEval_SetProfile)".to_string());
            }
            // Every other state of the interpreter: followed from now.
            let present = list_states(&run, |_| true);
            *lock(&run.at_start) = present
                .iter()
                .filter(|(tstate, _)| *tstate != caller)
                .copied()
                .collect();
            follow_new_states(&run);
        }
        Ok(AllThreadsHook {
            run: Arc::into_raw(run),
        })
    }

    /// Removes the function from every state that still has it (with the
    /// GIL), and returns every thread's recording: a thread still running
    /// ends now.
    pub fn uninstall(self, _gil: Gil<'_>) -> AllThreadsStop<T> {
        let run = unsafe { Arc::from_raw(self.run) };
        std::mem::forget(self);
        run.header.stopping.store(true, SeqCst);
        let callback = run.header.callback;
        let now = monotonic_ns();
        let mut replaced = 0;
        unsafe {
            let current = py::PyThreadState_Get() as usize;
            // Which followed threads' states are still listed, and with
            // which profile function.
            let listed = list_states(&run, |_| true);
            for &(tstate, id) in &listed {
                if tstate == current || profile_function(run.layout, tstate) != callback {
                    continue;
                }
                if still_listed(&run, tstate, id) {
                    set_profile(run.layout, tstate, None);
                }
            }
            if profile_function(run.layout, current) == callback {
                PyEval_SetProfile(None, std::ptr::null_mut());
            }
            CURRENT.store(std::ptr::null_mut(), SeqCst);
            // The reference CURRENT held.
            Arc::decrement_strong_count(Arc::as_ptr(&run));
            let entries: Vec<Box<Entry<T>>> = std::mem::take(&mut *lock(&run.threads));
            let mut threads = Vec::with_capacity(entries.len());
            for entry in entries {
                let entry = *entry;
                if entry.end.replaced.load(SeqCst) {
                    replaced += 1;
                }
                let (last_ns, last_cpu_ns, ended) = if entry.end.ended.load(SeqCst) {
                    (
                        entry.end.end_ns.load(SeqCst),
                        entry.end.end_cpu_ns.load(SeqCst),
                        true,
                    )
                } else {
                    let still = listed.iter().any(|&(tstate, id)| {
                        tstate == entry.tstate && (id.is_none() || id == entry.tstate_id)
                    });
                    if still
                        && profile_function(run.layout, entry.tstate) != 0
                        && profile_function(run.layout, entry.tstate) != callback
                    {
                        replaced += 1;
                    }
                    let cpu = read_clock(entry.cpu_clock).unwrap_or(entry.first_cpu_ns);
                    (now, cpu, false)
                };
                threads.push(ThreadRecording {
                    state: entry.state,
                    ident: entry.ident,
                    native_id: entry.native_id,
                    first_ns: entry.first_ns,
                    last_ns: last_ns.max(entry.first_ns),
                    first_cpu_ns: entry.first_cpu_ns,
                    last_cpu_ns: last_cpu_ns.max(entry.first_cpu_ns),
                    ended,
                    started_later: entry.started_later,
                });
            }
            AllThreadsStop { threads, replaced }
        }
    }
}

impl<T: 'static> Drop for AllThreadsHook<T> {
    /// Dropped without `uninstall` (a profiler handle collected while
    /// running): the function stays installed but does nothing until a
    /// later run takes it over (it is the same function), and this run is
    /// never freed (a callback may still hold its entries).
    fn drop(&mut self) {
        unsafe { (*self.run).header.stopping.store(true, SeqCst) };
        let _ = CURRENT.compare_exchange(
            self.run as *mut c_void,
            std::ptr::null_mut(),
            SeqCst,
            SeqCst,
        );
    }
}

/// The interpreter a thread state belongs to: 3.9+ ask CPython; before,
/// the interpreter whose list holds it.
unsafe fn interpreter_of(tstate: usize, head_lock: HeadLock) -> usize {
    #[cfg(not(any(py_2_7, py_3_6, py_3_7, py_3_8)))]
    {
        let _ = head_lock;
        py::PyThreadState_GetInterpreter(tstate as *mut py::PyThreadState) as usize
    }
    #[cfg(any(py_2_7, py_3_6, py_3_7, py_3_8))]
    head_lock.with(|| {
        let mut interp = PyInterpreterState_Head();
        while !interp.is_null() {
            let mut state = PyInterpreterState_ThreadHead(interp);
            while !state.is_null() {
                if state as usize == tstate {
                    return interp as usize;
                }
                state = PyThreadState_Next(state);
            }
            interp = PyInterpreterState_Next(interp);
        }
        0
    })
}

/// The state's `c_profilefunc`, as a word.
unsafe fn profile_function(layout: &Layout, tstate: usize) -> usize {
    std::ptr::read_volatile((tstate + layout.tstate_profile_func) as *const usize)
}

/// The state's `id` (3.7+: unique, never reused, unlike its address).
unsafe fn state_id(layout: &Layout, tstate: usize) -> Option<u64> {
    layout
        .threads
        .map(|t| std::ptr::read_volatile((tstate + t.tstate_id) as *const u64))
}

/// The states of the run's interpreter that pass `keep` (which runs no
/// Python code), with their ids, read under `HEAD_LOCK`.
unsafe fn list_states<T>(run: &Run<T>, keep: impl Fn(usize) -> bool) -> Vec<(usize, Option<u64>)> {
    let mut states = Vec::with_capacity(16);
    let layout = run.layout;
    let interp = run.header.interp;
    run.head_lock.with(|| {
        let mut tstate = PyInterpreterState_ThreadHead(interp as *mut c_void) as usize;
        while tstate != 0 && states.len() < 100_000 {
            if keep(tstate) {
                states.push((tstate, state_id(layout, tstate)));
            }
            tstate = PyThreadState_Next(tstate as *mut c_void) as usize;
        }
    });
    states
}

/// Whether the state is (still) in the list, the same state (its id).
unsafe fn still_listed<T>(run: &Run<T>, state: usize, id: Option<u64>) -> bool {
    let layout = run.layout;
    let interp = run.header.interp;
    run.head_lock.with(|| {
        let mut tstate = PyInterpreterState_ThreadHead(interp as *mut c_void) as usize;
        while tstate != 0 {
            if tstate == state {
                return state_id(layout, tstate) == id;
            }
            tstate = PyThreadState_Next(tstate as *mut c_void) as usize;
        }
        false
    })
}

/// Installs (`Some`) or removes (`None`) a profile function, no object, in
/// another thread's state, with the GIL. See the module comment.
unsafe fn set_profile(layout: &Layout, tstate: usize, func: Option<TraceFunc>) {
    #[cfg(not(any(py_2_7, py_3_6, py_3_7, py_3_8)))]
    {
        let _ = layout;
        let _aside = ExceptionSetAside::new();
        // An audit hook can refuse it (then the thread is not followed).
        if _PyEval_SetProfile(tstate as *mut c_void, func, std::ptr::null_mut()) != 0 {
            py::PyErr_Clear();
        }
    }
    #[cfg(any(py_2_7, py_3_6, py_3_7, py_3_8))]
    if let Some(fields) = crate::ffi::layout::PROFILE_FIELDS {
        let at = |offset: usize| (tstate + offset) as *mut usize;
        let tracing = std::ptr::read_volatile(at(fields.trace_func)) != 0;
        std::ptr::write_volatile(
            at(layout.tstate_profile_func),
            func.map_or(0, |f| f as usize),
        );
        let use_tracing = (tstate + fields.use_tracing) as *mut c_int;
        std::ptr::write_volatile(use_tracing, (func.is_some() || tracing) as c_int);
    }
}

/// Installs the function in every listed state that has no profile
/// function, and notes the head seen. With the GIL; can run Python code
/// (an audit hook, 3.9+).
unsafe fn follow_new_states<T: 'static>(run: &Run<T>) {
    let layout = run.layout;
    let interp = run.header.interp;
    // Noted first: a state linked while we install is seen at the next event.
    let head = run
        .head_lock
        .with(|| PyInterpreterState_ThreadHead(interp as *mut c_void) as usize);
    run.header.last_head.store(head, SeqCst);
    let candidates = list_states(run, |tstate| profile_function(layout, tstate) == 0);
    let callback: TraceFunc = callback::<T>;
    for (tstate, id) in candidates {
        if run.header.stopping.load(SeqCst) {
            return;
        }
        // An earlier install may have let other threads run: the state
        // may be gone, or have a profile function by now.
        if still_listed(run, tstate, id) && profile_function(layout, tstate) == 0 {
            set_profile(layout, tstate, Some(callback));
        }
    }
}

const END_KEY: &std::ffi::CStr = c"pyinstrument.setprofile_thread_end";

/// A thread's first event of the run (or the caller's, at install): makes
/// its state, registers it, and gives the thread its end capsule. With the
/// GIL, on the thread itself; can run Python code (making the dict).
unsafe fn begin_thread<T>(run: &Run<T>, tstate: usize, now_ns: u64, cpu_ns: u64, later: bool) {
    let tstate_id = state_id(run.layout, tstate);
    let present = {
        let mut at_start = lock(&run.at_start);
        match at_start
            .iter()
            .position(|&(state, id)| state == tstate && id == tstate_id)
        {
            Some(i) => {
                at_start.swap_remove(i);
                true
            }
            None => false,
        }
    };
    // A thread that was there at start is followed from the start (its
    // CPU clock from its first event: what it used before is not known).
    let (first_ns, started_later) = if present || !later {
        (run.start_ns, false)
    } else {
        (now_ns, true)
    };
    let tid = libc::gettid() as i64;
    let mut cpu_clock: libc::clockid_t = libc::CLOCK_THREAD_CPUTIME_ID;
    if libc::pthread_getcpuclockid(libc::pthread_self(), &mut cpu_clock) != 0 {
        cpu_clock = libc::CLOCK_THREAD_CPUTIME_ID;
    }
    let end = Arc::new(EndCell {
        tid,
        cpu_clock,
        profile_function: tstate + run.layout.tstate_profile_func,
        callback: run.header.callback,
        replaced: AtomicBool::new(false),
        ended: AtomicBool::new(false),
        end_ns: AtomicU64::new(0),
        end_cpu_ns: AtomicU64::new(0),
    });
    let mut entry = Box::new(Entry {
        state: (run.make)(first_ns, cpu_ns),
        tstate,
        tstate_id,
        ident: PyThread_get_thread_ident() as u64,
        native_id: tid,
        cpu_clock,
        first_ns,
        first_cpu_ns: cpu_ns,
        started_later,
        end: Arc::clone(&end),
        name_noted: false,
    });
    let pointer = &mut *entry as *mut Entry<T> as *mut c_void;
    lock(&run.threads).push(entry);
    MINE.with(|mine| mine.set((run.header.generation, pointer)));
    give_end_capsule(end);
}

/// Puts a capsule holding `end` in the calling thread's state dict
/// (replacing an earlier run's). With the GIL; the exception state is left
/// as it was.
unsafe fn give_end_capsule(end: Arc<EndCell>) {
    let _aside = ExceptionSetAside::new();
    let dict = py::PyThreadState_GetDict();
    if !dict.is_null() {
        let pointer = Arc::into_raw(end) as *mut c_void;
        let capsule = py::PyCapsule_New(pointer, END_KEY.as_ptr(), Some(thread_ended));
        if capsule.is_null() {
            drop(Arc::from_raw(pointer as *const EndCell));
        } else {
            py::PyDict_SetItemString(dict, END_KEY.as_ptr(), capsule);
            py::Py_DECREF(capsule);
        }
    }
}

/// The capsule's destructor: CPython clears the state dict on the ending
/// thread, with the GIL (or a later run replaced the capsule). Records the
/// end once.
unsafe extern "C" fn thread_ended(capsule: *mut py::PyObject) {
    let pointer = py::PyCapsule_GetPointer(capsule, END_KEY.as_ptr());
    if pointer.is_null() {
        py::PyErr_Clear();
        return;
    }
    let end = Arc::from_raw(pointer as *const EndCell);
    if !end.ended.load(SeqCst) {
        let cpu = if libc::gettid() as i64 == end.tid {
            Some(thread_cpu_ns())
        } else {
            read_clock(end.cpu_clock)
        };
        // CPython clears the dict before the profile function
        // (`PyThreadState_Clear`), while the state is alive.
        let function = std::ptr::read_volatile(end.profile_function as *const usize);
        end.replaced
            .store(function != 0 && function != end.callback, SeqCst);
        end.end_ns.store(monotonic_ns(), SeqCst);
        end.end_cpu_ns.store(cpu.unwrap_or(0), SeqCst);
        end.ended.store(true, SeqCst);
    }
}

/// The profile function of every followed thread. Cheap unless the thread
/// is new to the run, the thread list changed, or `on_event` samples.
unsafe extern "C" fn callback<T: 'static>(
    _obj: *mut py::PyObject,
    _frame: *mut c_void,
    what: c_int,
    arg: *mut py::PyObject,
) -> c_int {
    let Some(kind) = event_kind(what) else {
        return 0;
    };
    let pointer = CURRENT.load(SeqCst) as *const Run<T>;
    if pointer.is_null() {
        return 0;
    }
    // Valid: `uninstall` (with the GIL, which this thread holds) clears
    // CURRENT before it lets the run go, and nothing here lets the GIL go.
    let header = &(*pointer).header;
    if header.callback != callback::<T> as TraceFunc as usize || header.stopping.load(SeqCst) {
        return 0;
    }
    let (generation, entry) = MINE.with(Cell::get);
    let head = PyInterpreterState_ThreadHead(header.interp as *mut c_void) as usize;
    let mut begin = generation != header.generation;
    // Valid: this run's entries live until `uninstall`, which
    // sets `stopping` first (checked above).
    let known = (!begin).then(|| &*(entry as *const Entry<T>));
    if known.is_some_and(|known| known.end.ended.load(SeqCst)) {
        // The state this thread was followed in is cleared. Python code run
        // while it is cleared is not sampled; a new state of the same
        // thread (C code that calls `PyGILState_Ensure` again) is followed
        // anew.
        if known.is_some_and(|known| known.tstate == py::PyThreadState_Get() as usize) {
            return 0;
        }
        begin = true;
    }
    let entry = if begin || head != header.last_head.load(SeqCst) {
        // Kept alive over Python code the slow path may run.
        Arc::increment_strong_count(pointer);
        let run = Arc::from_raw(pointer);
        if begin {
            let tstate = py::PyThreadState_Get() as usize;
            begin_thread(&run, tstate, monotonic_ns(), thread_cpu_ns(), true);
        }
        if head != run.header.last_head.load(SeqCst) {
            follow_new_states(&run);
        }
        let (generation, entry) = MINE.with(Cell::get);
        if run.header.stopping.load(SeqCst) || generation != run.header.generation {
            return 0;
        }
        entry
    } else {
        entry
    };
    let run = &*pointer;
    let entry = &mut *(entry as *mut Entry<T>);
    let event = Event::new(kind, arg, run.layout);
    if (run.on_event)(&mut entry.state, &event) && !entry.name_noted {
        // No Python code runs here, so the entry stays valid.
        entry.name_noted = note_running_thread_name(entry.ident);
    }
    0
}
