//! `--all-threads` in signal mode on CPython 3.7+: every thread state of
//! the interpreter sampled by one sampling thread, each exactly as
//! [`GatedSampler`](super::GatedSampler) samples its one thread: read by the
//! sampling thread while it does not hold the GIL, or made to sample itself
//! by a signal while it holds the GIL and is on a CPU.
//!
//! Which threads exist is learnt from the interpreter's own list of thread
//! states (`PyInterpreterState_ThreadHead`, `PyThreadState_Next`), walked at
//! every interval. That list is changed under `HEAD_LOCK`
//! (`_PyRuntime.interpreters.mutex`: a `PyThread_type_lock` before 3.13, a
//! one-byte `PyMutex` from 3.13), not under the GIL: `PyGILState_Ensure`
//! links a new state without the GIL, 3.12+ links a new thread's state from
//! the thread that starts it, and 3.9+ frees a state after the thread gave
//! up the GIL (`tstate_delete_common` unlinks it under `HEAD_LOCK`, then the
//! GIL is released, then the memory freed). So the list is walked only
//! while the sampling thread holds *both* locks, always taken in this order:
//!
//! 1. `HEAD_LOCK`, with a non-blocking try: `PyThread_acquire_lock(lock,
//!    NOWAIT_LOCK)` before 3.13, from 3.13 a compare-exchange of the byte
//!    from unlocked (0) to locked (1), which is CPython's own fast path
//!    (`_PyMutex_TryLock` in pycore_lock.h; the unlock is the exported
//!    `PyMutex_Unlock` when a waiter parked meanwhile). A failed try skips
//!    the interval (counted in `head_lock_busy`): we never wait for it.
//! 2. The GIL's mutex, as the one-thread sampler does. CPython holds that
//!    mutex only inside `take_gil`/`drop_gil`, which change atomic flags
//!    under it and take no other lock (Python/ceval_gil.c, 3.7-3.13), so no
//!    thread ever waits for `HEAD_LOCK` while holding the GIL's mutex: the
//!    order cannot deadlock. (Threads take `HEAD_LOCK` while holding the
//!    GIL itself all the time; that is harmless, since we never wait for
//!    the GIL.)
//!
//! With both held, every state in the list stays allocated (it cannot be
//! unlinked, so not freed) and no thread can take or give up the GIL, so
//! every state but the GIL holder's has frames that stand still: the
//! sampling thread reads them. The holder, if it is on a CPU or ready to
//! run, gets SIGPROF after `HEAD_LOCK` has been released (its handler takes
//! no lock), with the GIL's mutex handed to its handler as before.
//!
//! A state is known by its address *and* its `id` (unique, never reused:
//! a new state can get a freed one's address). A state not yet bound to a
//! thread (3.12+ links it before the thread starts; `thread_id` is 0) is
//! left until it is. At first sight the sampling thread takes the thread's
//! CPU clock (`pthread_getcpuclockid` on its `thread_id`, alive since its
//! state is linked: a thread unlinks its own state before it ends) and
//! gives it a slot with a state made beforehand (nothing is allocated while
//! the locks are held; when no spare is ready, the thread is picked up at
//! the next interval). A state gone from the list at a walk is a thread
//! that ended: its slot is handed back and its recording kept.
//!
//! A thread's time ends when the thread does, read on the thread itself:
//! the last walk that saw it can be long before (on a busy machine the
//! sampling thread waits for a CPU too: 0.14 s of wall time and 23 ms of
//! CPU were lost so in the tests). A walk that finds a followed thread not
//! holding the GIL and without a state dict (`tstate->dict` NULL: it never
//! used `threading.local` or `PyThreadState_GetDict`) gives it one, made
//! beforehand with the GIL (at start, and by the name-noting pending call
//! on the main thread), holding a capsule. The thread cannot take the GIL
//! while the walk holds the GIL's mutex, and only the thread itself (with
//! the GIL) reads or creates its dict, so the pointer is written without
//! a race; from then on the dict is the thread's, as if it had made it.
//! CPython clears it on the ending thread with the GIL held
//! (`PyThreadState_Clear`, before the state is unlinked), and the
//! capsule's destructor then, under the slot's `busy` flag, reads the
//! thread's monotonic clock and `CLOCK_THREAD_CPUTIME_ID` (no allocation)
//! and clears the slot's `running` flag, so no tick, from a walk or a
//! signal, records that thread again. The capsule knows its thread by an
//! end cell (slot and generation, in a static array): a cell whose slot
//! was retired first (profiling stopped, or the thread dropped its state
//! without clearing it) is only handed back when its capsule goes. At
//! retirement a recorded end replaces the last walk's time; the recorder
//! gives the time since the last sample to the last stack, as for the
//! main thread. A thread that already has a dict, or met no spare one,
//! ends at the last walk as before. (A state whose dict CPython cleared
//! and that dropped the GIL while running a destructor in
//! `PyThreadState_Clear` could be given a dict that is never cleared: a
//! small leak, and that thread ends at the last walk.)
//!
//! A thread started while profiling
//! starts at the previous walk, but never before the kernel created it
//! (`/proc/self/task/TID/stat`): on a busy machine the sampling thread can
//! wait tens of milliseconds for a CPU between two walks.
//!
//! Once the runtime is finalizing, the walks stop for good (checked with
//! both locks held): daemon threads may then end without unlinking their
//! states, and the interpreter is torn down. Profiling stops before that
//! in every supported use (the runner's atexit hook, `Profiler.stop`).
//!
//! The alternative, learning threads from a hook each thread runs at its
//! start, needs a hook the program cannot see: `threading.setprofile` and
//! `settrace` show through `threading.getprofile()` (3.10+), and C-level
//! hooks (`PyEval_SetProfile`) are per thread and must be installed from
//! that thread. The list needs no hook at all.

use super::{
    dispatch, install_handler, locate_gil, on_cpu, outstanding_within, release_handed_mutex,
    runnable, send_queued_signal, trampoline, Control, Counters, GateCounts, Shared, SIGNAL_MAGIC,
    SLOTS, SLOT_COUNT,
};
use crate::ffi::frames::runs_python;
use crate::ffi::gil::{ExceptionSetAside, Gil};
use crate::ffi::layout::{GilRuntimeState, HeadLockKind, Layout, ThreadList};
use crate::ffi::py;
use crate::ffi::stack::{monotonic_ns, StoppedThread};
use crate::ffi::task::{read_clock, stat_path, thread_start_ns, tid_of_clock};
use crate::ffi::threads::{capture_names, ThreadRecording};
use std::ffi::{c_int, c_void};
use std::sync::atomic::{
    AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering::SeqCst,
};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

extern "C" {
    fn PyInterpreterState_ThreadHead(interp: *mut c_void) -> *mut c_void;
    fn PyThreadState_Next(tstate: *mut c_void) -> *mut c_void;
    fn PyThread_acquire_lock(lock: *mut c_void, waitflag: c_int) -> c_int;
    fn PyThread_release_lock(lock: *mut c_void);
}

#[cfg(any(py_3_13, py_3_14, py_3_15))]
extern "C" {
    fn PyMutex_Unlock(mutex: *mut u8);
    fn Py_IsFinalizing() -> c_int;
}

#[cfg(not(any(py_3_13, py_3_14, py_3_15)))]
extern "C" {
    fn _Py_IsFinalizing() -> c_int;
}

/// Whether the runtime is finalizing (a plain read of
/// `_PyRuntime._finalizing`). From then on daemon threads may end without
/// unlinking their states (`PyThread_exit_thread` in `take_gil`) and the
/// interpreter is torn down: the walks stop for good.
unsafe fn finalizing() -> bool {
    #[cfg(any(py_3_13, py_3_14, py_3_15))]
    return Py_IsFinalizing() != 0;
    #[cfg(not(any(py_3_13, py_3_14, py_3_15)))]
    return _Py_IsFinalizing() != 0;
}

/// How long the signalled GIL holder's handler keeps the GIL's mutex at
/// most (or two intervals, if longer), before the sampling thread takes it
/// back and walks the other threads again. One thread's signal must not
/// stop the sampling of every other thread for long, as it can on a busy
/// machine where a preempted thread waits tens of milliseconds for a CPU.
/// Taking the mutex back opens no window for EINTR: a handler that has not
/// run means the thread has not returned to user mode since the signal was
/// queued (the kernel delivers a pending signal on every return), so it
/// has not run a single instruction that could drop the GIL and block;
/// when it next runs, the handler runs first and samples its own frames.
const HANDOFF_TIMEOUT: Duration = Duration::from_millis(2);

/// Spare states made ahead, outside the locks, for threads seen next.
const SPARES: usize = 4;
/// Threads followed at once (the rest of the slots stay for profilers of
/// single threads).
const MAX_THREADS: usize = SLOT_COUNT - 16;

struct Entry<T> {
    tstate: usize,
    /// The end cell given to the thread with its dict.
    end_cell: Option<usize>,
    /// It had a state dict of its own: its end is the last walk.
    has_dict: bool,
    id: u64,
    slot: usize,
    generation: u32,
    cpu_clock: libc::clockid_t,
    seen: bool,
    /// Not owned here while in a slot: the slot holds it.
    recording: ThreadRecording<()>,
    _state: std::marker::PhantomData<T>,
}

/// What the sampling thread keeps between intervals (and across a fork's
/// stop and restart).
struct Table<T> {
    entries: Vec<Entry<T>>,
    spares: Vec<Box<T>>,
    finished: Vec<ThreadRecording<T>>,
    /// A walk succeeded already: threads seen after it started later.
    walked: bool,
    /// When the previous successful walk was (a thread first seen now
    /// started after it).
    previous_walk_ns: u64,
    /// The slot whose thread was last sent a signal.
    signalled: Option<usize>,
    /// Threads not followed: no slot or spare was free.
    untracked: u64,
    /// A walk followed a new thread: its name is to be noted, twice (the
    /// second time 10 ms later: the first may come before the thread has
    /// set its `Thread` object's ident).
    name_captures_due: u8,
    next_capture_ns: u64,
}

struct Setup<T> {
    interp: usize,
    gil: usize,
    head_lock: usize,
    threads: ThreadList,
    layout: &'static Layout,
    interval: Duration,
    start_ns: u64,
    make: fn() -> Box<T>,
    /// `sysconf(_SC_CLK_TCK)`: the unit of a thread's start time in
    /// `/proc/self/task/TID/stat`.
    clock_ticks: u64,
    begin: fn(&mut T, u64, u64),
    tick: fn(&mut T, &StoppedThread<'_>),
}

struct AllShared<T> {
    setup: Setup<T>,
    table: Mutex<Table<T>>,
    head_lock_busy: AtomicU64,
}

// The states (whose frame tables hold raw pointers into the interpreter)
// are made, begun and taken back by the sampling thread under the table's
// mutex, and ticked under their slot's `busy` flag, as `GatedSampler`'s
// one state is: never by two threads at once.
unsafe impl<T> Send for AllShared<T> {}
unsafe impl<T> Sync for AllShared<T> {}

/// Sampling every thread of the interpreter. See the module comment.
pub struct AllThreadsSampler<T: 'static> {
    control: Arc<Control>,
    all: Arc<AllShared<T>>,
    released: bool,
}

/// The counts of an all-threads run: [`GateCounts`] over every thread,
/// and the intervals skipped because `HEAD_LOCK` was held.
#[derive(Clone, Copy, Debug, Default)]
pub struct AllThreadsCounts {
    pub gate: GateCounts,
    pub head_lock_busy: u64,
    pub untracked: u64,
}

impl<T: 'static> AllThreadsSampler<T> {
    /// Starts sampling every thread of the calling thread's interpreter.
    /// `make` allocates a thread's state (on the sampling thread, never
    /// while it holds a lock); `begin(state, start_ns, start_cpu_ns)` sets
    /// where its clocks start (no allocation); `tick` is as for
    /// [`GatedSampler::start`](super::GatedSampler::start): signal safe.
    pub fn start(
        gil: Gil<'_>,
        interval_ns: u64,
        make: fn() -> Box<T>,
        begin: fn(&mut T, u64, u64),
        tick: fn(&mut T, &StoppedThread<'_>),
    ) -> Result<AllThreadsSampler<T>, String> {
        let layout = gil.layout()?;
        let Some(threads) = layout.threads else {
            return Err("all threads can be sampled on CPython 3.7 and newer".to_string());
        };
        install_handler()?;
        let tstate = unsafe { py::PyThreadState_Get() } as *const u8;
        let gil_state = unsafe { locate_gil(layout, tstate)? };
        let interp = unsafe { *(tstate.add(threads.tstate_interp) as *const usize) };
        let runtime = crate::ffi::layout::running::runtime_state()?;
        let head_lock = match threads.head_lock_kind {
            // The lock is a pointer to the lock object.
            HeadLockKind::ThreadLock => unsafe {
                *(runtime.add(threads.head_lock) as *const usize)
            },
            HeadLockKind::PyMutex => runtime as usize + threads.head_lock,
        };
        if head_lock == 0 {
            return Err("the interpreter has no thread-list lock where expected".to_string());
        }
        unsafe { prepare_thread_ends() };
        let start_ns = monotonic_ns();
        let mut spares = Vec::with_capacity(SPARES);
        for _ in 0..SPARES {
            spares.push(make());
        }
        let all = Arc::new(AllShared {
            setup: Setup {
                interp,
                gil: gil_state as usize,
                head_lock,
                threads,
                layout,
                interval: Duration::from_nanos(interval_ns),
                start_ns,
                make,
                clock_ticks: match unsafe { libc::sysconf(libc::_SC_CLK_TCK) } {
                    ticks if ticks > 0 => ticks as u64,
                    _ => 100,
                },
                begin,
                tick,
            },
            table: Mutex::new(Table {
                entries: Vec::with_capacity(MAX_THREADS),
                spares,
                finished: Vec::new(),
                walked: false,
                previous_walk_ns: start_ns,
                signalled: None,
                untracked: 0,
                name_captures_due: 0,
                next_capture_ns: 0,
            }),
            head_lock_busy: AtomicU64::new(0),
        });
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            thread_gone: AtomicBool::new(false),
            counters: Counters::default(),
        });
        unsafe { super::register_fork_hooks() };
        let for_loop = Arc::clone(&all);
        let control = Arc::new(Control {
            run: Arc::new(move |shared: &Shared| all_threads_loop(&for_loop, shared)),
            shared,
            thread: Mutex::new(None),
            pid: std::process::id(),
        });
        control
            .spawn()
            .map_err(|e| format!("cannot start the sampling thread: {e}"))?;
        super::running().push(Arc::clone(&control));
        Ok(AllThreadsSampler {
            control,
            all,
            released: false,
        })
    }

    fn halt_sampling(&self) {
        super::running().retain(|control| !Arc::ptr_eq(control, &self.control));
        self.control.halt();
    }

    /// Stops sampling; returns every thread's recording (those still alive
    /// end now) and the counts. Call with the GIL.
    pub fn stop(mut self, _gil: Gil<'_>) -> (Vec<ThreadRecording<T>>, AllThreadsCounts) {
        self.halt_sampling();
        self.released = true;
        let mut table = self.all.table.lock().unwrap_or_else(|p| p.into_inner());
        let now = monotonic_ns();
        let entries: Vec<Entry<T>> = table.entries.drain(..).collect();
        for mut entry in entries {
            let cpu = read_clock(entry.cpu_clock).unwrap_or(entry.recording.last_cpu_ns);
            entry.recording.last_ns = now;
            entry.recording.last_cpu_ns = entry.recording.last_cpu_ns.max(cpu);
            // A thread that ended since the last walk keeps its own end.
            table.finished.push(retire::<T>(entry));
        }
        let counters = &self.control.shared.counters;
        let counts = AllThreadsCounts {
            gate: GateCounts {
                on_thread: counters.on_thread.load(SeqCst),
                late: counters.late.load(SeqCst),
                read_while_blocked: counters.read_while_blocked.load(SeqCst),
                deferred: counters.deferred.load(SeqCst),
            },
            head_lock_busy: self.all.head_lock_busy.load(SeqCst),
            untracked: table.untracked,
        };
        (std::mem::take(&mut table.finished), counts)
    }
}

impl<T: 'static> Drop for AllThreadsSampler<T> {
    fn drop(&mut self) {
        if !self.released {
            self.halt_sampling();
            self.released = true;
            let mut table = self.all.table.lock().unwrap_or_else(|p| p.into_inner());
            for entry in table.entries.drain(..).collect::<Vec<_>>() {
                drop(retire::<T>(entry));
            }
        }
    }
}

/// Hands a slot back and takes its state out. No other tick of it can be
/// running (the sampling thread is the only one that signals it, and no
/// signal is outstanding, or the sampling thread has stopped).
fn retire<T>(entry: Entry<T>) -> ThreadRecording<T> {
    let slot = &SLOTS[entry.slot];
    super::stop_ticks(slot);
    let mut r = entry.recording;
    if let Some(cell) = entry.end_cell.map(|i| &END_CELLS[i]) {
        // Under `busy`, which the capsule's destructor holds while it
        // records the end.
        if cell.state.load(SeqCst) == ENDED {
            r.last_ns = cell.end_ns.load(SeqCst);
            r.last_cpu_ns = cell.end_cpu_ns.load(SeqCst).max(r.first_cpu_ns);
            r.ended = true;
            cell.state.store(FREE, SeqCst);
        } else {
            // Its capsule hands it back when it goes.
            let _ = cell.state.compare_exchange(ARMED, DISARMED, SeqCst, SeqCst);
        }
    }
    slot.generation.fetch_add(1, SeqCst);
    let state = slot.state.swap(std::ptr::null_mut(), SeqCst) as *mut T;
    slot.busy.store(false, SeqCst);
    slot.in_use.store(false, SeqCst);
    r.with_state(unsafe { Box::from_raw(state) })
}

/// Tries `HEAD_LOCK` without waiting.
unsafe fn try_head_lock(setup: &Setup<impl Sized>) -> bool {
    match setup.threads.head_lock_kind {
        HeadLockKind::ThreadLock => PyThread_acquire_lock(setup.head_lock as *mut c_void, 0) == 1,
        HeadLockKind::PyMutex => {
            let byte = &*(setup.head_lock as *const AtomicU8);
            byte.compare_exchange(0, 1, SeqCst, SeqCst).is_ok()
        }
    }
}

unsafe fn head_unlock(setup: &Setup<impl Sized>) {
    match setup.threads.head_lock_kind {
        HeadLockKind::ThreadLock => PyThread_release_lock(setup.head_lock as *mut c_void),
        HeadLockKind::PyMutex => {
            let byte = &*(setup.head_lock as *const AtomicU8);
            // Another thread parked on it meanwhile: CPython's slow path
            // wakes it.
            if byte.compare_exchange(1, 0, SeqCst, SeqCst).is_err() {
                #[cfg(any(py_3_13, py_3_14, py_3_15))]
                PyMutex_Unlock(setup.head_lock as *mut u8);
            }
        }
    }
}

fn all_threads_loop<T: 'static>(all: &AllShared<T>, shared: &Shared) {
    let setup = &all.setup;
    let mut table = all.table.lock().unwrap_or_else(|p| p.into_inner());
    let gil = setup.gil as *mut GilRuntimeState;
    let mutex = unsafe { std::ptr::addr_of_mut!((*gil).mutex) };
    let sampling_tid = unsafe { libc::gettid() } as i64;
    let handoff = (setup.interval * 2).max(HANDOFF_TIMEOUT);
    let mut next = Instant::now() + setup.interval;
    while !shared.stop.load(SeqCst) {
        // Allocation happens here, with no lock held.
        while table.spares.len() < SPARES {
            table.spares.push((setup.make)());
        }
        // Room for every followed thread to end at the next walk.
        let room = table.entries.len() + SPARES;
        table.finished.reserve(room);
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
        next = (next + setup.interval).max(Instant::now());
        if shared.stop.load(SeqCst) {
            break;
        }
        if let Some(index) = table.signalled {
            if outstanding_within(&SLOTS[index], &shared.counters, handoff) {
                continue;
            }
            table.signalled = None;
        }
        // No lock held and no signal outstanding: 3.13's Py_AddPendingCall
        // takes the GIL's mutex.
        let now_ns = monotonic_ns();
        if table.name_captures_due > 0 && now_ns >= table.next_capture_ns {
            table.name_captures_due -= 1;
            table.next_capture_ns = now_ns + 10_000_000;
            queue_name_capture();
        }
        unsafe {
            if !try_head_lock(setup) {
                all.head_lock_busy.fetch_add(1, SeqCst);
                continue;
            }
            libc::pthread_mutex_lock(mutex);
            if finalizing() {
                libc::pthread_mutex_unlock(mutex);
                head_unlock(setup);
                break;
            }
            let locked = std::ptr::read_volatile(std::ptr::addr_of!((*gil).locked));
            let holder = std::ptr::read_volatile(std::ptr::addr_of!((*gil).last_holder)) as usize;
            let holder = if locked == 1 { holder } else { 0 };
            let walk_ns = monotonic_ns();
            let holder_slot = walk(setup, &mut table, holder, walk_ns, sampling_tid, shared);
            table.walked = true;
            table.previous_walk_ns = walk_ns;
            head_unlock(setup);
            if let Some((index, generation, tid)) = holder_slot {
                let slot = &SLOTS[index];
                let mut path = [0u8; 48];
                if (on_cpu(slot.cpu_clock.load(SeqCst)) || runnable(stat_path(&mut path, tid)))
                    && !super::handler_replaced()
                {
                    let value = SIGNAL_MAGIC << 48 | (generation as usize) << 16 | index;
                    slot.sent_ns.store(monotonic_ns(), SeqCst);
                    slot.handed_mutex.store(mutex, SeqCst);
                    if send_queued_signal(tid, value).is_ok() {
                        shared.counters.on_thread.fetch_add(1, SeqCst);
                        table.signalled = Some(index);
                    } else {
                        release_handed_mutex(slot);
                        shared.counters.late.fetch_add(1, SeqCst);
                    }
                    continue;
                }
                shared.counters.deferred.fetch_add(1, SeqCst);
            }
            libc::pthread_mutex_unlock(mutex);
        }
    }
    if let Some(index) = table.signalled {
        while outstanding_within(&SLOTS[index], &shared.counters, handoff) {
            std::thread::sleep(Duration::from_micros(100));
        }
        table.signalled = None;
    }
}

/// One walk of the thread list, with `HEAD_LOCK` and the GIL's mutex held:
/// samples every thread but the GIL holder, follows new threads, retires
/// ended ones. Returns the holder's slot, generation and tid. Allocates
/// nothing (`entries` and `finished` have room reserved).
unsafe fn walk<T: 'static>(
    setup: &Setup<T>,
    table: &mut Table<T>,
    holder: usize,
    now_ns: u64,
    sampling_tid: i64,
    shared: &Shared,
) -> Option<(usize, u32, libc::pid_t)> {
    for entry in table.entries.iter_mut() {
        entry.seen = false;
    }
    let mut holder_slot = None;
    let mut tstate = PyInterpreterState_ThreadHead(setup.interp as *mut c_void) as usize;
    let mut steps = 0;
    while tstate != 0 && steps < 100_000 {
        steps += 1;
        let at = tstate as *const u8;
        let id = std::ptr::read_volatile(at.add(setup.threads.tstate_id) as *const u64);
        let ident = std::ptr::read_volatile(at.add(setup.threads.tstate_thread_id) as *const u64);
        let known = table
            .entries
            .iter()
            .position(|e| e.tstate == tstate && e.id == id);
        let index = match known {
            Some(i) => Some(i),
            None if ident != 0 && runs_python(tstate, setup.layout) => {
                follow(setup, table, tstate, id, ident, now_ns, sampling_tid)
            }
            None => None,
        };
        if let Some(i) = index {
            let entry = &mut table.entries[i];
            entry.seen = true;
            entry.recording.last_ns = now_ns;
            if tstate != holder && entry.end_cell.is_none() && !entry.has_dict {
                give_end_dict(setup, entry, tstate);
            }
            if tstate == holder {
                holder_slot = Some((
                    entry.slot,
                    entry.generation,
                    entry.recording.native_id as libc::pid_t,
                ));
            } else {
                dispatch(&SLOTS[entry.slot], entry.generation, false);
                if let Some(cpu) = read_clock(entry.cpu_clock) {
                    entry.recording.last_cpu_ns = cpu;
                }
                shared.counters.read_while_blocked.fetch_add(1, SeqCst);
            }
        }
        tstate = PyThreadState_Next(tstate as *mut c_void) as usize;
    }
    // States gone from the list: their threads ended.
    let mut i = 0;
    while i < table.entries.len() {
        if table.entries[i].seen {
            i += 1;
            continue;
        }
        let mut entry = table.entries.swap_remove(i);
        entry.recording.ended = true;
        let recording = retire::<T>(entry);
        if table.finished.len() < table.finished.capacity() {
            table.finished.push(recording);
        } else {
            // Never: room is reserved before each walk. Dropping here would
            // free with the locks held, which is allowed but slow.
            std::mem::forget(recording);
        }
    }
    holder_slot
}

/// Gives a newly seen thread a slot and a spare state; None if there is
/// no room (it is tried again at the next walk).
unsafe fn follow<T: 'static>(
    setup: &Setup<T>,
    table: &mut Table<T>,
    tstate: usize,
    id: u64,
    ident: u64,
    now_ns: u64,
    sampling_tid: i64,
) -> Option<usize> {
    if table.entries.len() >= MAX_THREADS || table.spares.is_empty() {
        table.untracked += 1;
        return None;
    }
    let mut clock: libc::clockid_t = 0;
    if libc::pthread_getcpuclockid(ident as libc::pthread_t, &mut clock) != 0 {
        return None;
    }
    let index = (0..SLOT_COUNT).find(|&i| {
        SLOTS[i]
            .in_use
            .compare_exchange(false, true, SeqCst, SeqCst)
            .is_ok()
    });
    let Some(index) = index else {
        table.untracked += 1;
        return None;
    };
    let mut state = table.spares.pop()?;
    let started_later = table.walked;
    // A thread that started after the previous walk: its clocks start then
    // (its CPU clock started at zero with it).
    let (first_ns, first_cpu_ns) = if started_later {
        // It started after the previous walk, and not before the kernel
        // created it: a sampling thread kept off the CPU for a while (a
        // busy machine) must not give it time from before it existed.
        let created = thread_start_ns(tid_of_clock(clock), setup.clock_ticks)
            .unwrap_or(0)
            .min(now_ns);
        (table.previous_walk_ns.max(created), 0)
    } else {
        (setup.start_ns, read_clock(clock).unwrap_or(0))
    };
    (setup.begin)(&mut state, first_ns, first_cpu_ns);
    let slot = &SLOTS[index];
    let generation = slot.generation.fetch_add(1, SeqCst).wrapping_add(1);
    slot.state.store(Box::into_raw(state) as *mut (), SeqCst);
    slot.trampoline
        .store(trampoline::<T> as *const () as usize, SeqCst);
    slot.tick.store(setup.tick as *const () as usize, SeqCst);
    slot.tstate.store(tstate, SeqCst);
    slot.layout
        .store(setup.layout as *const Layout as *mut Layout, SeqCst);
    slot.cpu_clock.store(clock, SeqCst);
    let tid = tid_of_clock(clock);
    slot.profiled_tid.store(tid as i64, SeqCst);
    slot.sampling_tid.store(sampling_tid, SeqCst);
    slot.running.store(true, SeqCst);
    table.name_captures_due = 2;
    table.entries.push(Entry {
        tstate,
        end_cell: None,
        has_dict: false,
        id,
        slot: index,
        generation,
        cpu_clock: clock,
        seen: false,
        recording: ThreadRecording::begun(
            ident,
            tid as i64,
            first_ns,
            now_ns,
            first_cpu_ns,
            started_later,
        ),
        _state: std::marker::PhantomData,
    });
    Some(table.entries.len() - 1)
}

/// A name-noting pending call is queued.
static NAMES_QUEUED: AtomicBool = AtomicBool::new(false);

/// Asks the main thread to note the names of the threads `threading`
/// knows, at its next bytecode boundary. Called with no lock held
/// (3.13's `Py_AddPendingCall` takes the GIL's mutex).
fn queue_name_capture() {
    if NAMES_QUEUED.swap(true, SeqCst) {
        return;
    }
    if unsafe { py::Py_AddPendingCall(Some(capture_names_call), std::ptr::null_mut()) } != 0 {
        NAMES_QUEUED.store(false, SeqCst); // the queue is full: next time
    }
}

extern "C" fn capture_names_call(_: *mut c_void) -> c_int {
    NAMES_QUEUED.store(false, SeqCst);
    unsafe {
        capture_names();
        prepare_thread_ends();
    }
    0
}

/// An end cell: where a thread's capsule records its end. FREE, then
/// PREPARED (its capsule is in a spare dict), ARMED (the dict was given to
/// the thread in `slot` at `generation`), then ENDED (the capsule recorded
/// the end; the sampling thread takes it and frees the cell) or DISARMED
/// (the slot was retired first; the capsule frees the cell when it goes).
struct EndCell {
    state: AtomicU8,
    slot: AtomicUsize,
    generation: AtomicU32,
    end_ns: AtomicU64,
    end_cpu_ns: AtomicU64,
}

const FREE: u8 = 0;
const PREPARED: u8 = 1;
const ARMED: u8 = 2;
const ENDED: u8 = 3;
const DISARMED: u8 = 4;

const END_CELL_COUNT: usize = 512;
static END_CELLS: [EndCell; END_CELL_COUNT] = [const {
    EndCell {
        state: AtomicU8::new(FREE),
        slot: AtomicUsize::new(0),
        generation: AtomicU32::new(0),
        end_ns: AtomicU64::new(0),
        end_cpu_ns: AtomicU64::new(0),
    }
}; END_CELL_COUNT];

/// Spare dicts ready to give (end cell, `PyObject *` dict, owned).
static END_DICTS: Mutex<Vec<(usize, usize)>> = Mutex::new(Vec::new());
/// Spare dicts made ahead (a pending call may not run for a while: the
/// main thread may be blocked joining the threads).
const END_DICTS_READY: usize = 32;
const END_KEY: &std::ffi::CStr = c"pyinstrument.thread_end";

fn end_dicts() -> std::sync::MutexGuard<'static, Vec<(usize, usize)>> {
    END_DICTS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Makes spare dicts, each holding a capsule with its end cell, up to
/// [`END_DICTS_READY`]. With the GIL; no lock is held while objects are
/// made (that may run Python code); the exception state is left as it was.
unsafe fn prepare_thread_ends() {
    let missing = END_DICTS_READY.saturating_sub(end_dicts().len());
    if missing == 0 {
        return;
    }
    let _aside = ExceptionSetAside::new();
    let mut made = Vec::with_capacity(missing);
    for _ in 0..missing {
        let Some(cell) = (0..END_CELL_COUNT).find(|&i| {
            END_CELLS[i]
                .state
                .compare_exchange(FREE, PREPARED, SeqCst, SeqCst)
                .is_ok()
        }) else {
            break;
        };
        let capsule = py::PyCapsule_New(
            (cell + 1) as *mut c_void,
            END_KEY.as_ptr(),
            Some(thread_ended),
        );
        if capsule.is_null() {
            END_CELLS[cell].state.store(FREE, SeqCst);
            break;
        }
        let dict = py::PyDict_New();
        if dict.is_null() {
            py::Py_DECREF(capsule); // frees the cell
            break;
        }
        let stored = py::PyDict_SetItemString(dict, END_KEY.as_ptr(), capsule);
        py::Py_DECREF(capsule);
        if stored != 0 {
            py::Py_DECREF(dict); // frees the cell
            break;
        }
        made.push((cell, dict as usize));
    }
    end_dicts().extend(made);
}

/// In a walk (`HEAD_LOCK` and the GIL's mutex held), for a followed thread
/// that does not hold the GIL: gives it a spare dict as its state dict if
/// it has none. No allocation, no Python code; the spares' lock is only
/// tried.
unsafe fn give_end_dict<T>(setup: &Setup<T>, entry: &mut Entry<T>, tstate: usize) {
    let field = (tstate + setup.threads.tstate_dict) as *mut usize;
    if std::ptr::read_volatile(field) != 0 {
        entry.has_dict = true;
        return;
    }
    let Ok(mut spares) = END_DICTS.try_lock() else {
        return;
    };
    let Some((index, dict)) = spares.pop() else {
        return;
    };
    drop(spares);
    let cell = &END_CELLS[index];
    cell.slot.store(entry.slot, SeqCst);
    cell.generation.store(entry.generation, SeqCst);
    cell.state.store(ARMED, SeqCst);
    std::ptr::write_volatile(field, dict);
    entry.end_cell = Some(index);
}

/// The capsule's destructor: CPython clears a state dict we gave, on its
/// ending thread with the GIL held (or frees a spare). Records the thread's
/// end and stops its ticks; no allocation.
unsafe extern "C" fn thread_ended(capsule: *mut py::PyObject) {
    let pointer = py::PyCapsule_GetPointer(capsule, END_KEY.as_ptr()) as usize;
    let Some(cell) = pointer.checked_sub(1).and_then(|i| END_CELLS.get(i)) else {
        py::PyErr_Clear();
        return;
    };
    let end_ns = monotonic_ns();
    let end_cpu_ns = read_clock(libc::CLOCK_THREAD_CPUTIME_ID);
    if cell.state.load(SeqCst) != ARMED {
        // A spare, or its slot was retired: nobody reads it any more.
        cell.state.store(FREE, SeqCst);
        return;
    }
    let slot = &SLOTS[cell.slot.load(SeqCst)];
    // Ticks take `busy` only briefly (the thread running this holds the
    // GIL, so no walk reads it; its own handler finds `busy` taken and
    // skips).
    while slot
        .busy
        .compare_exchange(false, true, SeqCst, SeqCst)
        .is_err()
    {
        std::thread::yield_now();
    }
    if cell.state.load(SeqCst) == ARMED {
        if slot.running.load(SeqCst) && slot.generation.load(SeqCst) == cell.generation.load(SeqCst)
        {
            cell.end_ns.store(end_ns, SeqCst);
            cell.end_cpu_ns.store(end_cpu_ns.unwrap_or(0), SeqCst);
            slot.running.store(false, SeqCst);
            cell.state.store(ENDED, SeqCst);
        } else {
            cell.state.store(FREE, SeqCst);
        }
    } else {
        cell.state.store(FREE, SeqCst);
    }
    slot.busy.store(false, SeqCst);
}
