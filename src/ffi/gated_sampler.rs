//! Signal mode on CPython 3.7+: a sampling thread that interrupts the
//! profiled thread only while that thread holds the GIL and is on a CPU,
//! and otherwise reads its frames itself, without interrupting it.
//!
//! Why not a timer signal every interval, as before: a signal that lands
//! while a thread sleeps in a system call makes `nanosleep`, `poll`,
//! `select`, `epoll_wait`, `pause`, `sigsuspend`... return EINTR, and
//! `SA_RESTART` does not restart those. Python's own wrappers retry
//! (PEP 475), but C libraries and extensions called with the GIL released
//! do not, and `signal.pause()` returns. A program must not notice us.
//!
//! The decision, at each interval, on the sampling thread (a native thread
//! with every signal blocked, no Python thread state, invisible to
//! `threading` and `signal`):
//!
//! 1. Lock the GIL's own mutex (`struct _gil_runtime_state.mutex`). CPython
//!    changes `locked` and `last_holder` only under that mutex (`take_gil`,
//!    `drop_gil` in Python/ceval_gil.c), so while we hold it no thread can
//!    take or give up the GIL.
//! 2. If the profiled thread does not hold the GIL, it is blocked (in a
//!    system call, a sleep, a C function that released the GIL) or waiting
//!    for the GIL. It cannot run Python code, so its frames stand still
//!    until it holds the GIL, which it cannot get before we unlock: the
//!    sampling thread walks its frames itself. Nothing is sent to it.
//! 3. If it holds the GIL, we check that it is on a CPU (its CPU-time clock
//!    advances over a few microseconds) or else that the scheduler has it
//!    ready to run (state `R` in `/proc/self/task/TID/stat`: preempted on a
//!    busy machine), not asleep. If so, it runs Python code or a C function
//!    called with the GIL (or waits for a CPU to do so): we send SIGPROF to
//!    it alone
//!    (`rt_tgsigqueueinfo`, carrying our slot and generation) and leave the
//!    mutex locked: its handler unlocks it once it has sampled. Until then
//!    it cannot release the GIL (`drop_gil` waits for the mutex, and a futex
//!    wait in `pthread_mutex_lock` is resumed by glibc after a handler), so
//!    the signal can never be pending when it enters a blocking call that
//!    follows a GIL release: that race is closed, not just made rare. The
//!    sampling thread does not wait for the handler (under CPU contention
//!    that round trip cost most samples); it skips its ticks until the
//!    handler has run.
//! 4. If it holds the GIL but sleeps, it is a C function blocked with the
//!    GIL held: nothing is sent, nothing recorded; the next sample's weight
//!    (the time since the previous one) carries this interval.
//!
//! What is left open, and measured by `bench/signal_race.py`: C code that
//! holds the GIL and enters a blocking call between our check and the
//! signal's arrival can still see EINTR (about 2 % of short GIL-holding
//! `usleep`/`poll` calls made through `ctypes.PyDLL` in a tight loop; none
//! of 20,000 made with the GIL released). Checking only "on a CPU" narrows
//! that to 0.2 %, but a preempted thread then goes unsampled, and on a busy
//! machine short programs got no sample at all. Code that
//! releases the GIL around the call, as Python's and ctypes' wrappers and
//! well-behaved extensions do, cannot.
//!
//! A thread that ends while profiled: its thread state is freed after it
//! gave up the GIL for the last time. A capsule in the thread's state dict
//! (`PyThreadState_GetDict`) is destroyed when CPython clears that thread
//! state, with the GIL held and before it frees it, and tells the sampling
//! thread to stop walking it; the mutex orders the two.
//!
//! Ticks run either in the handler, on the profiled thread, or on the
//! sampling thread; a `busy` flag per slot keeps them from ever running at
//! once (a signal delivered after the sampling thread gave it up finds the
//! slot busy, or runs one more tick). `tick` must be signal safe.

#[cfg(not(any(py_2_7, py_3_6)))]
mod all_threads;
#[cfg(not(any(py_2_7, py_3_6)))]
pub use all_threads::{AllThreadsCounts, AllThreadsSampler};

use super::gil::Gil;
use super::layout::{running, GilLocation, GilRuntimeState, Layout};
use super::py;
use super::stack::StoppedThread;
use super::task::read_task_stat;
use std::ffi::c_void;
use std::sync::atomic::{
    AtomicBool, AtomicI32, AtomicI64, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize,
    Ordering::SeqCst,
};
use std::sync::{Arc, Mutex, Once};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub const SAMPLING_SIGNAL: libc::c_int = libc::SIGPROF;
const SLOT_COUNT: usize = 256;
/// Marks our queued signals' value (top 16 bits), beside slot and
/// generation, so that a SIGPROF the program queues itself is not taken
/// for one of ours.
const SIGNAL_MAGIC: usize = 0x5059;
/// How long the sampling thread watches the profiled thread's CPU clock to
/// tell whether it is on a CPU.
const ON_CPU_WINDOW: Duration = Duration::from_micros(3);
/// How long a signal may keep the GIL's mutex before the sampling thread
/// unlocks it itself (the program replaced our handler after we looked).
/// A running thread takes a signal within microseconds; a preempted one
/// when the scheduler gives it a CPU again.
const DELIVERY_TIMEOUT: Duration = Duration::from_millis(50);

struct Slot {
    generation: AtomicU32,
    in_use: AtomicBool,
    running: AtomicBool,
    busy: AtomicBool,
    state: AtomicPtr<()>,
    /// `trampoline::<T>` for this slot's state type.
    trampoline: AtomicUsize,
    /// The user's `fn(&mut T, &StoppedThread)`.
    tick: AtomicUsize,
    /// The profiled thread's `PyThreadState*`, and the layout to read it.
    tstate: AtomicUsize,
    layout: AtomicPtr<Layout>,
    /// The profiled thread's CPU-time clock (`pthread_getcpuclockid`).
    cpu_clock: AtomicI32,
    /// The GIL's mutex, locked by the sampling thread and handed to the
    /// handler of the signal it sent: whoever takes it from here (the
    /// handler, or the sampling thread once the signal is overdue) unlocks
    /// it. Null when no signal is outstanding.
    handed_mutex: AtomicPtr<libc::pthread_mutex_t>,
    /// When the outstanding signal was sent (monotonic ns).
    sent_ns: AtomicU64,
    /// Thread ids: the profiled thread's and its sampling thread's (for
    /// [`TICK_THREAD`]).
    profiled_tid: AtomicI64,
    sampling_tid: AtomicI64,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY_SLOT: Slot = Slot {
    generation: AtomicU32::new(0),
    in_use: AtomicBool::new(false),
    running: AtomicBool::new(false),
    busy: AtomicBool::new(false),
    state: AtomicPtr::new(std::ptr::null_mut()),
    trampoline: AtomicUsize::new(0),
    tick: AtomicUsize::new(0),
    tstate: AtomicUsize::new(0),
    layout: AtomicPtr::new(std::ptr::null_mut()),
    cpu_clock: AtomicI32::new(0),
    handed_mutex: AtomicPtr::new(std::ptr::null_mut()),
    sent_ns: AtomicU64::new(0),
    profiled_tid: AtomicI64::new(0),
    sampling_tid: AtomicI64::new(0),
};

static SLOTS: [Slot; SLOT_COUNT] = [EMPTY_SLOT; SLOT_COUNT];

/// How many ticks are running right now (in any thread), and on which
/// thread the latest started: lets a test's counting allocator prove that
/// ticks never allocate, on either thread a tick can run on.
pub static TICKS_IN_PROGRESS: AtomicUsize = AtomicUsize::new(0);
pub static TICK_THREAD: AtomicI64 = AtomicI64::new(0);
static INSTALL: Once = Once::new();
static INSTALL_ERROR: AtomicBool = AtomicBool::new(false);

unsafe fn trampoline<T>(state: *mut (), tick: usize, thread: &StoppedThread<'_>) {
    let tick: fn(&mut T, &StoppedThread<'_>) = std::mem::transmute(tick);
    tick(&mut *(state as *mut T), thread);
}

extern "C" fn on_signal(
    _signal: libc::c_int,
    info: *mut libc::siginfo_t,
    _context: *mut libc::c_void,
) {
    unsafe {
        let errno = *libc::__errno_location();
        if !info.is_null()
            && (*info).si_code == libc::SI_QUEUE
            && (*info).si_pid() == libc::getpid()
        {
            let value = (*info).si_value().sival_ptr as usize;
            if value >> 48 == SIGNAL_MAGIC {
                let index = value & 0xffff;
                if let Some(slot) = SLOTS.get(index) {
                    dispatch(slot, ((value >> 16) & 0xffff_ffff) as u32, true);
                    release_handed_mutex(slot);
                }
            }
        }
        *libc::__errno_location() = errno;
    }
}

/// Unlocks the GIL's mutex if the sampling thread handed it over and nobody
/// took it yet. glibc's default mutex may be unlocked by another thread
/// than the one that locked it, and its unlock is a few atomic operations
/// and at most one `futex` wake: signal safe in practice. If the profiled
/// thread was itself waiting for that mutex (in `drop_gil`), glibc's lock
/// loop tries again once the handler returns.
unsafe fn release_handed_mutex(slot: &Slot) -> bool {
    let mutex = slot.handed_mutex.swap(std::ptr::null_mut(), SeqCst);
    if mutex.is_null() {
        return false;
    }
    libc::pthread_mutex_unlock(mutex);
    true
}

/// Runs the slot's tick if it is still the generation asked for, and no
/// other tick of it is running. Signal safe.
unsafe fn dispatch(slot: &Slot, generation: u32, on_profiled_thread: bool) {
    if slot.busy.swap(true, SeqCst) {
        return; // a tick of this slot is running, or it is being stopped
    }
    if slot.running.load(SeqCst) && slot.generation.load(SeqCst) == generation {
        let state = slot.state.load(SeqCst);
        let trampoline: unsafe fn(*mut (), usize, &StoppedThread<'_>) =
            std::mem::transmute(slot.trampoline.load(SeqCst));
        // Dispatched on the profiled thread from its signal handler, or on
        // the sampling thread while it holds the GIL's mutex and the profiled
        // thread does not hold the GIL: its frames stay put either way.
        let thread = StoppedThread::lend(
            slot.tstate.load(SeqCst) as *const c_void,
            &*slot.layout.load(SeqCst),
            slot.cpu_clock.load(SeqCst),
        );
        let runner = if on_profiled_thread {
            &slot.profiled_tid
        } else {
            &slot.sampling_tid
        };
        TICK_THREAD.store(runner.load(SeqCst), SeqCst);
        TICKS_IN_PROGRESS.fetch_add(1, SeqCst);
        trampoline(state, slot.tick.load(SeqCst), &thread);
        TICKS_IN_PROGRESS.fetch_sub(1, SeqCst);
    }
    slot.busy.store(false, SeqCst);
}

fn install_handler() -> Result<(), String> {
    INSTALL.call_once(|| unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_signal as *const () as usize;
        // SA_RESTART for good measure; by design the signal only reaches a
        // thread that is not in a blocking call (see the module comment).
        action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        if libc::sigaction(SAMPLING_SIGNAL, &action, std::ptr::null_mut()) != 0 {
            INSTALL_ERROR.store(true, SeqCst);
        }
    });
    if INSTALL_ERROR.load(SeqCst) {
        Err(format!(
            "cannot install the SIGPROF handler: {}",
            std::io::Error::last_os_error()
        ))
    } else {
        Ok(())
    }
}

/// True when SIGPROF's handler is no longer ours (the program replaced it),
/// in which case sampling of running code silently stopped.
pub fn handler_replaced() -> bool {
    unsafe {
        let mut current: libc::sigaction = std::mem::zeroed();
        libc::sigaction(SAMPLING_SIGNAL, std::ptr::null(), &mut current);
        current.sa_sigaction != on_signal as *const () as usize
    }
}

/// What the sampling thread did, interval by interval.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GateCounts {
    /// Samples asked of the profiled thread itself: signals sent while it
    /// held the GIL and could run (2.7 and 3.6: pending calls run at a
    /// bytecode boundary).
    pub on_thread: u64,
    /// Signals whose handler had not run within [`DELIVERY_TIMEOUT`].
    pub late: u64,
    /// Samples read by the sampling thread while the profiled thread did
    /// not hold the GIL.
    pub read_while_blocked: u64,
    /// Intervals with no sample: the thread held the GIL off a CPU.
    pub deferred: u64,
}

#[derive(Default)]
struct Counters {
    on_thread: AtomicU64,
    late: AtomicU64,
    read_while_blocked: AtomicU64,
    deferred: AtomicU64,
}

/// State shared with the sampling thread and with the thread-exit capsule.
struct Shared {
    stop: AtomicBool,
    /// Set (with the GIL held) when CPython clears the profiled thread's
    /// state: from then on it must not be walked.
    thread_gone: AtomicBool,
    counters: Counters,
}

/// Where the sampling thread finds everything, fixed at start.
#[derive(Clone, Copy)]
struct Target {
    slot: usize,
    generation: u32,
    tstate: usize,
    gil: usize,
    tid: libc::pid_t,
    /// The profiled thread's CPU-time clock.
    cpu_clock: libc::clockid_t,
    interval: Duration,
}

/// A running sampler of the thread that started it. See the module
/// comment for what it does and why it is sound.
pub struct GatedSampler<T: 'static> {
    slot: usize,
    control: Arc<Control>,
    /// The thread-exit capsule's key in the thread state dict.
    dict_key: std::ffi::CString,
    /// Set once the slot has been handed back (by `stop`, or by `drop`).
    released: bool,
    _state: std::marker::PhantomData<T>,
}

/// A sampler dropped without `stop` (its owner went away, for instance a
/// thread's profilers when the thread ends) still stops sampling and frees
/// its slot and state; only the thread-end capsule, which needs the GIL to
/// remove, stays in the thread's dict (it holds its own reference to what
/// it touches when destroyed).
impl<T: 'static> Drop for GatedSampler<T> {
    fn drop(&mut self) {
        if !self.released {
            self.halt_sampling();
            self.released = true;
            drop(Self::release_slot(self.slot));
        }
    }
}

/// A sampling thread, and what it takes to start it again.
struct Control {
    /// The sampling thread's body: [`sampling_loop`], or the all-threads
    /// loop (`all_threads`).
    run: Arc<dyn Fn(&Shared) + Send + Sync>,
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The process that started it: a forked child has no copy of it.
    pid: u32,
}

/// Every running sampling thread, so that they can be stopped around a
/// fork (see [`register_fork_hooks`]).
static RUNNING: Mutex<Vec<Arc<Control>>> = Mutex::new(Vec::new());
static FORK_HOOKS: Once = Once::new();

fn running() -> std::sync::MutexGuard<'static, Vec<Arc<Control>>> {
    RUNNING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// 3.13+ counts the threads after the `after_in_parent` hooks, 3.12 before.
const WARNS_AFTER_HOOKS: bool = super::layout::VERSION.0 == 3 && super::layout::VERSION.1 >= 13;
/// How long after the `after_in_parent` hooks start the sampling threads
/// may start again on 3.13+: the hooks (lock releases in logging and the
/// like) and the thread count that follows them take microseconds.
const FORK_SETTLE_NS: u64 = 2_000_000;
/// Not before this monotonic time (0: at once).
static RESUME_AFTER_NS: AtomicU64 = AtomicU64::new(0);

unsafe fn none() -> *mut py::PyObject {
    py::Py_INCREF(py::Py_None());
    py::Py_None()
}

/// Starts again every sampling thread a fork stopped. Called with the GIL
/// held, at once or as a pending call that queues itself again until the
/// fork has settled.
extern "C" fn resume_sampling(_: *mut c_void) -> std::ffi::c_int {
    if super::stack::monotonic_ns() < RESUME_AFTER_NS.load(SeqCst)
        && unsafe { py::Py_AddPendingCall(Some(resume_sampling), std::ptr::null_mut()) } == 0
    {
        return 0;
    }
    for control in running().iter() {
        let stopped = control
            .thread
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none();
        // Should a thread not start again, its profile has no samples past
        // the fork, and its time goes to the last sample.
        if stopped {
            let _ = control.spawn();
        }
    }
    0
}

impl Control {
    fn spawn(&self) -> std::io::Result<()> {
        self.shared.stop.store(false, SeqCst);
        let (run, shared) = (Arc::clone(&self.run), Arc::clone(&self.shared));
        let thread = spawn_with_signals_blocked(move || run(&shared))?;
        *self.thread.lock().unwrap_or_else(|p| p.into_inner()) = Some(thread);
        Ok(())
    }

    /// Stops the thread and waits for it. The sampling thread never waits
    /// for the GIL, so this may be called with the GIL held.
    fn halt(&self) {
        self.shared.stop.store(true, SeqCst);
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(thread) = thread {
            if std::process::id() == self.pid {
                let _ = thread.join();
            } else {
                std::mem::forget(thread);
            }
        }
    }
}

/// Python 3.12+ warns on `os.fork()` when the process has more than one
/// OS thread ("This process is multi-threaded, use of fork() may lead to
/// deadlocks in the child"), counting them in /proc/self/stat after the
/// fork (3.12: before the `after_in_parent` hooks run; 3.13: after them).
/// So the sampling threads stop in a `before` hook and start again in our
/// `after_in_parent` hook (3.7-3.12) or, on 3.13+, from a pending call that
/// waits [`FORK_SETTLE_NS`] after it: the program forks and is counted with
/// exactly the threads it has under python, and no sampling thread holds
/// the GIL's mutex across a fork. Meanwhile nothing is sampled; the next
/// sample carries that time. (A pending call runs on the main thread: a
/// fork from another thread while the main thread blocks resumes sampling
/// when the main thread runs Python code again.)
/// Registered once per process, with the GIL held (`register_at_fork`
/// came with 3.7).
unsafe fn register_fork_hooks() {
    FORK_HOOKS.call_once(|| {
        unsafe extern "C" fn before(
            _: *mut py::PyObject,
            _: *mut py::PyObject,
        ) -> *mut py::PyObject {
            for control in running().iter() {
                control.halt();
            }
            none()
        }
        unsafe extern "C" fn after_in_parent(
            _: *mut py::PyObject,
            _: *mut py::PyObject,
        ) -> *mut py::PyObject {
            if WARNS_AFTER_HOOKS {
                RESUME_AFTER_NS.store(super::stack::monotonic_ns() + FORK_SETTLE_NS, SeqCst);
                if py::Py_AddPendingCall(Some(resume_sampling), std::ptr::null_mut()) == 0 {
                    return none();
                }
                RESUME_AFTER_NS.store(0, SeqCst); // the queue is full: now
            }
            resume_sampling(std::ptr::null_mut());
            none()
        }
        let function = |name: &'static std::ffi::CStr, body: py::PyCFunction| {
            let def = Box::leak(Box::new(py::PyMethodDef {
                ml_name: name.as_ptr(),
                ml_meth: Some(body),
                ml_flags: py::METH_NOARGS,
                ml_doc: std::ptr::null(),
            }));
            py::PyCFunction_NewEx(def, std::ptr::null_mut(), std::ptr::null_mut())
        };
        let os = py::PyImport_ImportModule(c"os".as_ptr());
        let register = if os.is_null() {
            std::ptr::null_mut()
        } else {
            py::PyObject_GetAttrString(os, c"register_at_fork".as_ptr())
        };
        let hooks = [
            (c"before", function(c"pyinstrument_before_fork", before)),
            (
                c"after_in_parent",
                function(c"pyinstrument_after_fork", after_in_parent),
            ),
        ];
        let args = py::PyTuple_New(0);
        let kwargs = py::PyDict_New();
        let mut complete = !register.is_null() && !args.is_null() && !kwargs.is_null();
        for (key, hook) in hooks {
            complete &=
                !hook.is_null() && py::PyDict_SetItemString(kwargs, key.as_ptr(), hook) == 0;
            py::Py_XDECREF(hook);
        }
        if complete {
            let result = py::PyObject_Call(register, args, kwargs);
            py::Py_XDECREF(result);
        }
        for object in [os, register, args, kwargs] {
            py::Py_XDECREF(object);
        }
        // Without the hooks (no such function) sampling still works; only
        // 3.12+'s fork warning could then show.
        py::PyErr_Clear();
    });
}

const CAPSULE_NAME: &std::ffi::CStr = c"pyinstrument.thread_gone";

/// The capsule's destructor: CPython is clearing the profiled thread's
/// state (it holds the GIL).
unsafe extern "C" fn capsule_destroyed(capsule: *mut py::PyObject) {
    let pointer = py::PyCapsule_GetPointer(capsule, CAPSULE_NAME.as_ptr());
    if pointer.is_null() {
        py::PyErr_Clear();
        return;
    }
    let shared = Arc::from_raw(pointer as *const Shared);
    shared.thread_gone.store(true, SeqCst);
}

/// The GIL of the calling thread's interpreter. The caller holds the GIL.
unsafe fn locate_gil(layout: &Layout, tstate: *const u8) -> Result<*const GilRuntimeState, String> {
    let gil = match layout.gil {
        None => return Err("no GIL layout for this Python".to_string()),
        Some(GilLocation::Runtime { runtime_gil }) => {
            running::runtime_state()?.add(runtime_gil) as *const GilRuntimeState
        }
        Some(GilLocation::Interpreter {
            tstate_interp,
            interp_gil,
        }) => {
            let interp = *(tstate.add(tstate_interp) as *const *const u8);
            *(interp.add(interp_gil) as *const *const GilRuntimeState)
        }
    };
    if gil.is_null() {
        return Err("this interpreter has no GIL where this build expects it".to_string());
    }
    // We hold the GIL: the layout is right only if it says so.
    let locked = std::ptr::read_volatile(std::ptr::addr_of!((*gil).locked));
    let holder = std::ptr::read_volatile(std::ptr::addr_of!((*gil).last_holder));
    if locked != 1 || !std::ptr::eq(holder as *const u8, tstate) {
        return Err(format!(
            "the GIL is not where this build expects it (locked {locked}, holder {holder:?}, \
             this thread {tstate:?})"
        ));
    }
    Ok(gil)
}

impl<T: 'static> GatedSampler<T> {
    /// Starts sampling the calling thread, which holds the GIL. `tick` runs
    /// on that thread from a signal handler, or on the sampling thread while
    /// that thread cannot run Python code: it must be signal safe.
    pub fn start(
        gil: Gil<'_>,
        state: Box<T>,
        interval_ns: u64,
        tick: fn(&mut T, &StoppedThread<'_>),
    ) -> Result<GatedSampler<T>, String> {
        let layout = gil.layout()?;
        install_handler()?;
        let tstate = unsafe { py::PyThreadState_Get() } as *const u8;
        let gil = unsafe { locate_gil(layout, tstate)? };
        let cpu_clock = super::stack::own_cpu_clock()?;
        let Some(slot_index) = (0..SLOT_COUNT).find(|&i| {
            SLOTS[i]
                .in_use
                .compare_exchange(false, true, SeqCst, SeqCst)
                .is_ok()
        }) else {
            return Err("too many profilers running at once".to_string());
        };
        let slot = &SLOTS[slot_index];
        let generation = slot.generation.fetch_add(1, SeqCst).wrapping_add(1);
        slot.state.store(Box::into_raw(state) as *mut (), SeqCst);
        slot.trampoline
            .store(trampoline::<T> as *const () as usize, SeqCst);
        slot.tick.store(tick as *const () as usize, SeqCst);
        slot.tstate.store(tstate as usize, SeqCst);
        slot.layout
            .store(layout as *const Layout as *mut Layout, SeqCst);
        slot.cpu_clock.store(cpu_clock, SeqCst);
        let tid = unsafe { libc::gettid() };
        slot.profiled_tid.store(tid as i64, SeqCst);
        slot.running.store(true, SeqCst);

        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            thread_gone: AtomicBool::new(false),
            counters: Counters::default(),
        });
        let dict_key =
            std::ffi::CString::new(format!("pyinstrument.sampler.{slot_index}.{generation}"))
                .expect("no NUL in the key");
        if let Err(message) = unsafe { watch_thread_end(&shared, &dict_key) } {
            drop(Self::release_slot(slot_index));
            return Err(message);
        }
        let target = Target {
            slot: slot_index,
            generation,
            tstate: tstate as usize,
            gil: gil as usize,
            tid,
            cpu_clock,
            interval: Duration::from_nanos(interval_ns),
        };
        unsafe { register_fork_hooks() };
        let control = Arc::new(Control {
            run: Arc::new(move |shared: &Shared| sampling_loop(target, shared)),
            shared,
            thread: Mutex::new(None),
            pid: std::process::id(),
        });
        match control.spawn() {
            Ok(()) => {
                running().push(Arc::clone(&control));
                Ok(GatedSampler {
                    slot: slot_index,
                    control,
                    dict_key,
                    released: false,
                    _state: std::marker::PhantomData,
                })
            }
            Err(e) => {
                unsafe { unwatch_thread_end(&dict_key) };
                drop(Self::release_slot(slot_index));
                Err(format!("cannot start the sampling thread: {e}"))
            }
        }
    }

    fn release_slot(index: usize) -> Box<T> {
        let slot = &SLOTS[index];
        stop_ticks(slot);
        // A signal still queued carries the old generation and is ignored.
        slot.generation.fetch_add(1, SeqCst);
        let state = slot.state.swap(std::ptr::null_mut(), SeqCst) as *mut T;
        slot.busy.store(false, SeqCst);
        slot.in_use.store(false, SeqCst);
        unsafe { Box::from_raw(state) }
    }

    /// Stops sampling and returns the state, with no tick running, and what
    /// the sampling thread did. Call on the profiled thread, with the GIL.
    pub fn stop(mut self, _gil: Gil<'_>) -> (Box<T>, GateCounts) {
        self.halt_sampling();
        unsafe { unwatch_thread_end(&self.dict_key) };
        let counters = &self.control.shared.counters;
        let counts = GateCounts {
            on_thread: counters.on_thread.load(SeqCst),
            late: counters.late.load(SeqCst),
            read_while_blocked: counters.read_while_blocked.load(SeqCst),
            deferred: counters.deferred.load(SeqCst),
        };
        self.released = true;
        (Self::release_slot(self.slot), counts)
    }

    /// Stops the sampling thread for good (and takes it off the list the
    /// fork hooks restart).
    fn halt_sampling(&self) {
        running().retain(|control| !Arc::ptr_eq(control, &self.control));
        self.control.halt();
    }
}

/// Puts a capsule in the calling thread's state dict whose destruction
/// (when CPython clears the thread state) sets `shared.thread_gone`. The
/// caller holds the GIL.
unsafe fn watch_thread_end(shared: &Arc<Shared>, key: &std::ffi::CStr) -> Result<(), String> {
    let dict = py::PyThreadState_GetDict();
    if dict.is_null() {
        return Err("no thread state dict to watch the thread's end with".to_string());
    }
    let pointer = Arc::into_raw(Arc::clone(shared)) as *mut c_void;
    let capsule = py::PyCapsule_New(pointer, CAPSULE_NAME.as_ptr(), Some(capsule_destroyed));
    if capsule.is_null() {
        py::PyErr_Clear();
        drop(Arc::from_raw(pointer as *const Shared));
        return Err("cannot create the thread-end capsule".to_string());
    }
    let stored = py::PyDict_SetItemString(dict, key.as_ptr(), capsule);
    py::Py_DECREF(capsule);
    if stored != 0 {
        py::PyErr_Clear();
        return Err("cannot store the thread-end capsule".to_string());
    }
    Ok(())
}

/// Removes the capsule again (its destructor runs, harmlessly). The caller
/// holds the GIL, on the profiled thread; elsewhere the capsule stays until
/// that thread ends.
unsafe fn unwatch_thread_end(key: &std::ffi::CStr) {
    let dict = py::PyThreadState_GetDict();
    if !dict.is_null() && py::PyDict_DelItemString(dict, key.as_ptr()) != 0 {
        py::PyErr_Clear();
    }
}

/// Spawns a native thread that never takes a signal: process-directed
/// signals must go to the program's threads (a `signal.pause()` or
/// `sigwait()` in the program waits for them), as they do under python.
pub(crate) fn spawn_with_signals_blocked(
    body: impl FnOnce() + Send + 'static,
) -> std::io::Result<JoinHandle<()>> {
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut previous: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut previous);
        let spawned = std::thread::Builder::new()
            .name("pyinstrument-sampler".to_string())
            .stack_size(64 * 1024)
            .spawn(body);
        libc::pthread_sigmask(libc::SIG_SETMASK, &previous, std::ptr::null_mut());
        spawned
    }
}

fn sampling_loop(target: Target, shared: &Shared) {
    let slot = &SLOTS[target.slot];
    slot.sampling_tid
        .store(unsafe { libc::gettid() } as i64, SeqCst);
    let gil = target.gil as *mut GilRuntimeState;
    let mutex = unsafe { std::ptr::addr_of_mut!((*gil).mutex) };
    let stat_path = std::ffi::CString::new(format!("/proc/self/task/{}/stat", target.tid))
        .expect("no NUL in a path made of digits");
    let value = SIGNAL_MAGIC << 48 | (target.generation as usize) << 16 | target.slot;
    let mut next = Instant::now() + target.interval;
    while !shared.stop.load(SeqCst) {
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
        next = (next + target.interval).max(Instant::now());
        if shared.stop.load(SeqCst) {
            break;
        }
        if outstanding(slot, &shared.counters) {
            // The last signal's handler has not run yet (the thread waits
            // for a CPU): its sample is still to come.
            continue;
        }
        unsafe {
            libc::pthread_mutex_lock(mutex);
            if shared.thread_gone.load(SeqCst) {
                libc::pthread_mutex_unlock(mutex);
                break;
            }
            let locked = std::ptr::read_volatile(std::ptr::addr_of!((*gil).locked));
            let holder = std::ptr::read_volatile(std::ptr::addr_of!((*gil).last_holder));
            if locked != 1 || holder as usize != target.tstate {
                // Cannot take the GIL before we unlock: its frames stand still.
                dispatch(slot, target.generation, false);
                shared.counters.read_while_blocked.fetch_add(1, SeqCst);
            } else if (on_cpu(target.cpu_clock) || runnable(&stat_path)) && !handler_replaced() {
                // The handler unlocks the mutex once it has sampled: until
                // then the thread cannot give up the GIL and block with our
                // signal pending.
                slot.sent_ns.store(super::stack::monotonic_ns(), SeqCst);
                slot.handed_mutex.store(mutex, SeqCst);
                if send_queued_signal(target.tid, value).is_ok() {
                    shared.counters.on_thread.fetch_add(1, SeqCst);
                    continue;
                }
                release_handed_mutex(slot);
                shared.counters.late.fetch_add(1, SeqCst);
                continue;
            } else {
                shared.counters.deferred.fetch_add(1, SeqCst);
            }
            libc::pthread_mutex_unlock(mutex);
        }
    }
    // Stopping: a signal still on its way must not keep the GIL's mutex.
    while outstanding(slot, &shared.counters) {
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// True if the thread whose CPU clock this is runs on a CPU right now: its
/// CPU time advances while we watch for a few microseconds. Checked just
/// before the signal is sent, this leaves the thread the least time to
/// enter a blocking call with the GIL held before the signal lands.
fn on_cpu(clock: libc::clockid_t) -> bool {
    let read = || {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
            return None;
        }
        Some(ts.tv_sec * 1_000_000_000 + ts.tv_nsec)
    };
    let Some(before) = read() else { return false };
    let start = Instant::now();
    while start.elapsed() < ON_CPU_WINDOW {
        std::hint::spin_loop();
    }
    matches!(read(), Some(after) if after > before)
}

/// Stops a slot's ticks for good: no new one starts, and one in progress
/// (a late signal's) is waited for. The slot is left busy.
fn stop_ticks(slot: &Slot) {
    slot.running.store(false, SeqCst);
    while slot
        .busy
        .compare_exchange(false, true, SeqCst, SeqCst)
        .is_err()
    {
        std::thread::yield_now();
    }
}

/// True if the thread is running or ready to run, false if it sleeps (in
/// a system call, in a futex, stopped) or is gone: the state letter of
/// `/proc/self/task/TID/stat`.
fn runnable(stat_path: &std::ffi::CStr) -> bool {
    let mut buffer = [0u8; 512];
    read_task_stat(stat_path, &mut buffer).is_some_and(state_is_runnable)
}

/// The state after the command name, which is in parentheses and may hold
/// any byte: "1234 (python3) R 1 ...".
fn state_is_runnable(stat: &[u8]) -> bool {
    match stat.iter().rposition(|&b| b == b')') {
        Some(end) => stat.get(end + 2) == Some(&b'R'),
        None => false,
    }
}

/// Whether a signal sent earlier still holds the GIL's mutex. One overdue
/// by [`DELIVERY_TIMEOUT`] (the program replaced our SIGPROF handler after
/// we looked, or the thread is gone) is given up: the mutex is unlocked
/// here, and counted as late.
fn outstanding(slot: &Slot, counters: &Counters) -> bool {
    outstanding_within(slot, counters, DELIVERY_TIMEOUT)
}

/// [`outstanding`], giving the signal `timeout` to be handled.
fn outstanding_within(slot: &Slot, counters: &Counters, timeout: Duration) -> bool {
    if slot.handed_mutex.load(SeqCst).is_null() {
        return false;
    }
    let waited = super::stack::monotonic_ns().saturating_sub(slot.sent_ns.load(SeqCst));
    if waited < timeout.as_nanos() as u64 {
        return true;
    }
    if unsafe { release_handed_mutex(slot) } {
        counters.late.fetch_add(1, SeqCst);
    }
    false
}

/// The kernel's `siginfo_t` for a queued signal (x86-64 and aarch64): what
/// `rt_tgsigqueueinfo` reads. Padded to the kernel's 128 bytes.
#[repr(C)]
struct QueuedSignalInfo {
    signo: libc::c_int,
    errno: libc::c_int,
    code: libc::c_int,
    _pad: libc::c_int,
    pid: libc::pid_t,
    uid: libc::uid_t,
    value: usize,
    _rest: [u8; 96],
}

fn send_queued_signal(tid: libc::pid_t, value: usize) -> std::io::Result<()> {
    let info = QueuedSignalInfo {
        signo: SAMPLING_SIGNAL,
        errno: 0,
        code: libc::SI_QUEUE,
        _pad: 0,
        pid: unsafe { libc::getpid() },
        uid: unsafe { libc::getuid() },
        value,
        _rest: [0; 96],
    };
    let rc = unsafe {
        libc::syscall(
            libc::SYS_rt_tgsigqueueinfo,
            libc::getpid(),
            tid,
            SAMPLING_SIGNAL,
            &info as *const QueuedSignalInfo,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduler_state_is_read_after_the_command_name() {
        assert!(state_is_runnable(b"12 (python3) R 1 12 12 0"));
        assert!(!state_is_runnable(b"12 (python3) S 1 12 12 0"));
        // A command name may itself contain ") R".
        assert!(!state_is_runnable(b"12 (a) R (b) S 1 12"));
        assert!(!state_is_runnable(b"garbage"));
        // This thread, running this test, is runnable.
        let path = std::ffi::CString::new(format!("/proc/self/task/{}/stat", unsafe {
            libc::gettid()
        }))
        .unwrap();
        assert!(runnable(&path));
        assert!(!runnable(c"/proc/self/task/0/stat"));
    }

    #[test]
    fn queued_signal_info_matches_the_kernel_layout() {
        assert_eq!(std::mem::size_of::<QueuedSignalInfo>(), 128);
        assert_eq!(
            std::mem::size_of::<QueuedSignalInfo>(),
            std::mem::size_of::<libc::siginfo_t>()
        );
        // Read back through libc's accessors, as the handler does.
        let info = QueuedSignalInfo {
            signo: SAMPLING_SIGNAL,
            errno: 0,
            code: libc::SI_QUEUE,
            _pad: 0,
            pid: 1234,
            uid: 5,
            value: 0xdead_beef,
            _rest: [0; 96],
        };
        let as_libc = unsafe { &*(&info as *const QueuedSignalInfo as *const libc::siginfo_t) };
        assert_eq!(as_libc.si_signo, SAMPLING_SIGNAL);
        assert_eq!(as_libc.si_code, libc::SI_QUEUE);
        unsafe {
            assert_eq!(as_libc.si_pid(), 1234);
            assert_eq!(as_libc.si_uid(), 5);
            assert_eq!(as_libc.si_value().sival_ptr as usize, 0xdead_beef);
        }
    }
}
