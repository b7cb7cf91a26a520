//! Signal mode for Python 2.7 and 3.6, without signals.
//!
//! A signal must never reach a thread blocked in a system call (it would
//! return EINTR; 2.7 does not even retry its own calls, PEP 475 came with
//! 3.5). On 3.7+ `ffi::gated_sampler` makes sure of it by holding the GIL's
//! mutex while it decides; 2.7's and 3.6's GIL is private to ceval.c, so
//! there a sampling thread wakes at every interval and looks at which
//! thread holds the GIL (`_PyThreadState_Current`, which both export and
//! set to NULL whenever the GIL is released):
//!
//! - If the profiled thread holds it (it is running Python code), the
//!   sampler queues a pending call (`Py_AddPendingCall`), which 2.7 runs on
//!   the main thread at the very next bytecode boundary: the thread samples
//!   its own stack, in a consistent state, without being interrupted.
//!   Queuing is cheap and never waits for the GIL, which a busy 2.7 thread
//!   hands over only reluctantly.
//! - Otherwise the profiled thread is blocked in a system call or a C
//!   function, or waiting for the GIL: its frames cannot change while the
//!   sampler holds the GIL, so the sampler takes the GIL and reads them.
//!   Time blocked in C is attributed to the Python line that called it.
//!
//! Pending calls only ever run on the main thread; for another profiled
//! thread the sampler always takes the second path.
//!
//! With `--all-threads` ([`GilSampler::start_all`]) each tick, on either
//! path, walks every thread instead: see `all_threads`.

mod all_threads;

use super::gated_sampler::{spawn_with_signals_blocked, GateCounts};
use super::gil::Gil;
use super::layout::Layout;
use super::py;
use super::stack::StoppedThread;
use super::threads::ThreadRecording;
use all_threads::AllThreads;
use std::ffi::c_void;
use std::os::raw::c_int;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

extern "C" {
    /// The thread state of the thread holding the GIL (NULL when none does).
    static _PyThreadState_Current: *mut c_void;
}

/// Shared between the sampling thread and pending calls; every access to
/// `state` happens with the GIL held, which serialises them.
struct Shared<T> {
    /// The profiled thread's state; null when `all` is not.
    state: *mut T,
    /// `--all-threads`: every thread, walked at each tick; null otherwise.
    all: *mut AllThreads<T>,
    tick: fn(&mut T, &StoppedThread<'_>),
    /// The profiled thread's `PyThreadState*`, and the layout to read it.
    profiled: usize,
    layout: &'static Layout,
    /// The profiled thread's CPU-time clock.
    cpu_clock: libc::clockid_t,
    stopped: AtomicBool,
    call_queued: AtomicBool,
    /// Samples taken by pending calls, and by the sampling thread.
    on_thread: AtomicU64,
    read_while_blocked: AtomicU64,
}

struct SendPtr<T>(*const Shared<T>);
unsafe impl<T> Send for SendPtr<T> {}

pub struct GilSampler<T: 'static> {
    shared: *const Shared<T>,
    thread: JoinHandle<()>,
    /// The process that started the thread: a forked child has no copy of it.
    pid: u32,
}

extern "C" fn pending_tick<T>(arg: *mut c_void) -> c_int {
    let shared = unsafe { &*(arg as *const Shared<T>) };
    if !shared.stopped.load(SeqCst) {
        // A pending call runs on the profiled thread, with the GIL.
        run_tick(shared, 0);
        shared.on_thread.fetch_add(1, SeqCst);
    }
    shared.call_queued.store(false, SeqCst);
    0
}

/// Runs the tick. Only while the GIL is held, by the profiled thread or by
/// the sampling thread (so the profiled thread's frames stay put). `own`
/// is the sampling thread's state when it runs the tick, else 0.
fn run_tick<T>(shared: &Shared<T>, own: usize) {
    if !shared.all.is_null() {
        // With the GIL, which serialises every access.
        unsafe { (*shared.all).walk(own) };
        return;
    }
    let thread = unsafe {
        StoppedThread::lend(
            shared.profiled as *const c_void,
            shared.layout,
            shared.cpu_clock,
        )
    };
    (shared.tick)(unsafe { &mut *shared.state }, &thread);
}

fn is_main_thread() -> bool {
    unsafe { libc::getpid() == libc::gettid() }
}

impl<T: 'static> GilSampler<T> {
    /// Starts sampling the calling thread, which holds the GIL; `tick` runs
    /// with the GIL held, on the profiled thread or the sampling thread.
    pub fn start(
        gil: Gil<'_>,
        state: Box<T>,
        interval_ns: u64,
        tick: fn(&mut T, &StoppedThread<'_>),
    ) -> Result<GilSampler<T>, String> {
        Self::start_with(
            gil,
            Box::into_raw(state),
            std::ptr::null_mut(),
            interval_ns,
            tick,
        )
    }

    /// Starts sampling every thread of the interpreter (see
    /// `all_threads`), from the calling thread, which holds the GIL and is
    /// sampled as the others. `make` makes a thread's state when the
    /// thread is first seen, `begin(state, start_ns, start_cpu_ns)` sets
    /// where its clocks start; `tick` runs with the GIL.
    pub fn start_all(
        gil: Gil<'_>,
        interval_ns: u64,
        make: fn() -> Box<T>,
        begin: fn(&mut T, u64, u64),
        tick: fn(&mut T, &StoppedThread<'_>),
    ) -> Result<GilSampler<T>, String> {
        let layout = gil.layout()?;
        let mut all = unsafe { AllThreads::new(layout, make, begin, tick)? };
        // The threads alive now start with profiling: every other thread is
        // stopped, as in a tick.
        unsafe { all.walk(0) };
        Self::start_with(
            gil,
            std::ptr::null_mut(),
            Box::into_raw(Box::new(all)),
            interval_ns,
            tick,
        )
    }

    fn start_with(
        gil: Gil<'_>,
        state: *mut T,
        all: *mut AllThreads<T>,
        interval_ns: u64,
        tick: fn(&mut T, &StoppedThread<'_>),
    ) -> Result<GilSampler<T>, String> {
        let layout = gil.layout()?;
        unsafe { py::PyEval_InitThreads() };
        let profiled = unsafe { py::PyThreadState_Get() } as usize;
        let use_pending_calls = is_main_thread();
        let cpu_clock = super::stack::own_cpu_clock()?;
        let shared = Box::into_raw(Box::new(Shared {
            state,
            all,
            tick,
            profiled,
            layout,
            cpu_clock,
            stopped: AtomicBool::new(false),
            call_queued: AtomicBool::new(false),
            on_thread: AtomicU64::new(0),
            read_while_blocked: AtomicU64::new(0),
        })) as *const Shared<T>;
        let interval = Duration::from_nanos(interval_ns);
        let pointer = SendPtr(shared);
        let thread = spawn_with_signals_blocked(move || {
            let pointer = pointer;
            let shared = unsafe { &*pointer.0 };
            let mut next = Instant::now() + interval;
            while !shared.stopped.load(SeqCst) {
                let now = Instant::now();
                if next > now {
                    std::thread::sleep(next - now);
                }
                next = (next + interval).max(Instant::now());
                if shared.stopped.load(SeqCst) || shared.call_queued.load(SeqCst) {
                    continue;
                }
                let holder =
                    unsafe { std::ptr::read_volatile(std::ptr::addr_of!(_PyThreadState_Current)) };
                if use_pending_calls && holder as usize == profiled {
                    shared.call_queued.store(true, SeqCst);
                    let queued = unsafe {
                        py::Py_AddPendingCall(Some(pending_tick::<T>), pointer.0 as *mut c_void)
                    };
                    if queued != 0 {
                        shared.call_queued.store(false, SeqCst); // queue full: next time
                    }
                } else {
                    unsafe {
                        let gil = py::PyGILState_Ensure();
                        if !shared.stopped.load(SeqCst) {
                            run_tick(shared, py::PyThreadState_Get() as usize);
                            shared.read_while_blocked.fetch_add(1, SeqCst);
                        }
                        py::PyGILState_Release(gil);
                    }
                }
            }
        })
        .map_err(|e| {
            unsafe {
                let shared = Box::from_raw(shared as *mut Shared<T>);
                if !shared.state.is_null() {
                    drop(Box::from_raw(shared.state));
                }
                if !shared.all.is_null() {
                    drop(Box::from_raw(shared.all).finish());
                }
            }
            format!("cannot start the sampling thread: {e}")
        })?;
        Ok(GilSampler {
            shared,
            thread,
            pid: std::process::id(),
        })
    }

    /// Stops sampling and returns the state. Called on the profiled thread,
    /// which holds the GIL (released while the sampling thread finishes).
    pub fn stop(self, _gil: Gil<'_>) -> (Box<T>, GateCounts) {
        let (shared_ptr, counts, free) = self.halt();
        unsafe {
            let state = Box::from_raw((*shared_ptr).state);
            if free {
                drop(Box::from_raw(shared_ptr as *mut Shared<T>));
            }
            (state, counts)
        }
    }

    /// [`stop`](Self::stop) for a sampler from [`start_all`](Self::start_all):
    /// every thread's recording (those alive end now), the counts, and how
    /// many walks ended early (see `all_threads`).
    pub fn stop_all(self, _gil: Gil<'_>) -> (Vec<ThreadRecording<T>>, GateCounts, u64) {
        let (shared_ptr, counts, free) = self.halt();
        unsafe {
            // No tick runs any more, and we hold the GIL.
            let all = Box::from_raw((*shared_ptr).all);
            let cut_walks = all.cut_walks;
            let threads = all.finish();
            if free {
                drop(Box::from_raw(shared_ptr as *mut Shared<T>));
            }
            (threads, counts, cut_walks)
        }
    }

    /// Stops the sampling thread and waits for it (with the GIL released).
    /// Returns the shared block, the counts, and whether the block may be
    /// freed.
    fn halt(self) -> (*const Shared<T>, GateCounts, bool) {
        // `Drop` is for samplers that were not stopped.
        let this = std::mem::ManuallyDrop::new(self);
        // Moved out once, never used again, and `this` is never dropped.
        let thread = unsafe { std::ptr::read(&this.thread) };
        let (shared_ptr, pid) = (this.shared, this.pid);
        unsafe {
            let shared = &*shared_ptr;
            shared.stopped.store(true, SeqCst);
            if std::process::id() != pid {
                // A forked child: fork copied only the calling thread, so
                // there is no sampling thread to wait for.
                std::mem::forget(thread);
                return (shared_ptr, GateCounts::default(), false);
            }
            let saved = py::PyEval_SaveThread();
            let joined = thread.join();
            py::PyEval_RestoreThread(saved);
            if joined.is_err() {
                panic!("the sampling thread panicked");
            }
            let counts = GateCounts {
                on_thread: shared.on_thread.load(SeqCst),
                read_while_blocked: shared.read_while_blocked.load(SeqCst),
                ..GateCounts::default()
            };
            // A pending call still queued will run later and only look at
            // `stopped`: leave it its few bytes rather than free them under
            // it. (Running the queue ourselves would also run the program's
            // own pending signal handlers at the wrong moment.)
            (shared_ptr, counts, !shared.call_queued.load(SeqCst))
        }
    }
}

/// A sampler dropped without `stop`: the sampling thread is told to stop
/// and left to finish on its own (joining it could deadlock: whoever drops
/// this may hold the GIL the thread is waiting for), so the shared block
/// and the state it may still touch are leaked, not freed.
impl<T: 'static> Drop for GilSampler<T> {
    fn drop(&mut self) {
        unsafe { &*self.shared }.stopped.store(true, SeqCst);
    }
}
