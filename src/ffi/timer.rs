//! A per-thread sampling timer: a POSIX timer whose signal (SIGPROF) is
//! delivered to one thread only (`SIGEV_THREAD_ID`), so threads the program
//! starts never receive it and a tick always runs on the thread whose frames
//! it reads.
//!
//! Why SIGPROF and not SIGALRM: programs use SIGALRM themselves
//! (`signal.alarm`, `setitimer(ITIMER_REAL)`), and Python's `signal.signal`
//! would replace our handler. SIGPROF is left to profilers by convention.
//!
//! Each armed timer owns a slot in a static table. The signal carries the
//! slot index and a generation number, so a signal that was already queued
//! when its timer was deleted finds a newer generation and does nothing, and
//! the handler never dereferences state that was freed.
//!
//! The handler takes no lock and allocates nothing; it saves and restores
//! errno, and a `busy` flag keeps `stop` from freeing state a tick is using.

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicUsize, Ordering::SeqCst};
use std::sync::Once;

pub const SAMPLING_SIGNAL: libc::c_int = libc::SIGPROF;
const SLOT_COUNT: usize = 256;

struct Slot {
    generation: AtomicU32,
    in_use: AtomicBool,
    running: AtomicBool,
    busy: AtomicBool,
    state: AtomicPtr<()>,
    /// `trampoline::<T>` for this slot's state type.
    trampoline: AtomicUsize,
    /// The user's `fn(&mut T)`.
    tick: AtomicUsize,
    /// The POSIX timer (`timer_t`), re-armed after each tick.
    timer: AtomicUsize,
    /// The interval in nanoseconds.
    interval_ns: AtomicUsize,
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
    timer: AtomicUsize::new(0),
    interval_ns: AtomicUsize::new(0),
};

static SLOTS: [Slot; SLOT_COUNT] = [EMPTY_SLOT; SLOT_COUNT];

/// How many ticks are running right now (in any thread). Lets a test's
/// counting allocator prove that ticks never allocate.
pub static TICKS_IN_PROGRESS: AtomicUsize = AtomicUsize::new(0);
static INSTALL: Once = Once::new();
static INSTALL_ERROR: AtomicBool = AtomicBool::new(false);

unsafe fn trampoline<T>(state: *mut (), tick: usize) {
    let tick: fn(&mut T) = std::mem::transmute(tick);
    tick(&mut *(state as *mut T));
}

extern "C" fn on_signal(
    _signal: libc::c_int,
    info: *mut libc::siginfo_t,
    _context: *mut libc::c_void,
) {
    unsafe {
        let errno = *libc::__errno_location();
        if !info.is_null() && (*info).si_code == libc::SI_TIMER {
            let value = (*info).si_value().sival_ptr as usize;
            dispatch(value & 0xffff, (value >> 16) as u32);
        }
        *libc::__errno_location() = errno;
    }
}

unsafe fn dispatch(index: usize, generation: u32) {
    let Some(slot) = SLOTS.get(index) else { return };
    if slot.busy.swap(true, SeqCst) {
        return; // re-entered, or being stopped
    }
    if slot.running.load(SeqCst) && slot.generation.load(SeqCst) == generation {
        let state = slot.state.load(SeqCst);
        let trampoline: unsafe fn(*mut (), usize) =
            std::mem::transmute(slot.trampoline.load(SeqCst));
        TICKS_IN_PROGRESS.fetch_add(1, SeqCst);
        trampoline(state, slot.tick.load(SeqCst));
        TICKS_IN_PROGRESS.fetch_sub(1, SeqCst);
        // One-shot timer, re-armed once the tick is done: however long a
        // tick takes (a very deep stack), the program always runs a whole
        // interval before the next one. (timer_settime is signal safe.)
        let spec = one_shot(slot.interval_ns.load(SeqCst) as u64);
        libc::timer_settime(
            slot.timer.load(SeqCst) as libc::timer_t,
            0,
            &spec,
            std::ptr::null_mut(),
        );
    }
    slot.busy.store(false, SeqCst);
}

fn one_shot(interval_ns: u64) -> libc::itimerspec {
    let zero = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let value = libc::timespec {
        tv_sec: (interval_ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (interval_ns % 1_000_000_000) as libc::c_long,
    };
    libc::itimerspec {
        it_interval: zero,
        it_value: value,
    }
}

fn install_handler() -> Result<(), String> {
    INSTALL.call_once(|| unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_signal as *const () as usize;
        // SA_RESTART: system calls the tick interrupts restart where the
        // kernel allows it, so the program sees as few EINTRs as possible.
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
/// in which case sampling silently stopped.
pub fn handler_replaced() -> bool {
    unsafe {
        let mut current: libc::sigaction = std::mem::zeroed();
        libc::sigaction(SAMPLING_SIGNAL, std::ptr::null(), &mut current);
        current.sa_sigaction != on_signal as *const () as usize
    }
}

/// A running timer that calls `tick(&mut state)` on the arming thread every
/// interval, from a signal handler: `tick` must be signal safe (no
/// allocation, no locks, no Python API).
pub struct ThreadTimer<T: 'static> {
    slot: usize,
    timer: libc::timer_t,
    state: *mut T,
}

impl<T: 'static> ThreadTimer<T> {
    /// Arms a timer for the calling thread.
    pub fn start(
        state: Box<T>,
        interval_ns: u64,
        tick: fn(&mut T),
    ) -> Result<ThreadTimer<T>, String> {
        if let Err(message) = install_handler() {
            return Err(message);
        }
        let Some(slot_index) = (0..SLOT_COUNT).find(|&i| {
            SLOTS[i]
                .in_use
                .compare_exchange(false, true, SeqCst, SeqCst)
                .is_ok()
        }) else {
            return Err("too many profilers running at once".to_string());
        };
        let slot = &SLOTS[slot_index];
        let generation = slot.generation.fetch_add(1, SeqCst).wrapping_add(1) & 0xffff_ffff;
        let state = Box::into_raw(state);
        slot.state.store(state as *mut (), SeqCst);
        slot.trampoline
            .store(trampoline::<T> as *const () as usize, SeqCst);
        slot.tick.store(tick as *const () as usize, SeqCst);
        slot.running.store(true, SeqCst);

        unsafe {
            let mut event: libc::sigevent = std::mem::zeroed();
            event.sigev_notify = libc::SIGEV_THREAD_ID;
            event.sigev_signo = SAMPLING_SIGNAL;
            event.sigev_notify_thread_id = libc::gettid();
            event.sigev_value.sival_ptr =
                ((generation as usize) << 16 | slot_index) as *mut libc::c_void;
            let mut timer: libc::timer_t = std::mem::zeroed();
            if libc::timer_create(libc::CLOCK_MONOTONIC, &mut event, &mut timer) != 0 {
                let message = format!(
                    "cannot create the sampling timer: {}",
                    std::io::Error::last_os_error()
                );
                drop(Self::release_slot(slot_index));
                return Err(message);
            }
            slot.timer.store(timer as usize, SeqCst);
            slot.interval_ns.store(interval_ns as usize, SeqCst);
            let spec = one_shot(interval_ns);
            if libc::timer_settime(timer, 0, &spec, std::ptr::null_mut()) != 0 {
                let message = format!(
                    "cannot start the sampling timer: {}",
                    std::io::Error::last_os_error()
                );
                libc::timer_delete(timer);
                drop(Self::release_slot(slot_index));
                return Err(message);
            }
            Ok(ThreadTimer {
                slot: slot_index,
                timer,
                state,
            })
        }
    }

    fn release_slot(index: usize) -> Box<T> {
        let slot = &SLOTS[index];
        slot.running.store(false, SeqCst);
        // Wait for a tick in progress (possible only when stopping from
        // another thread than the sampled one).
        while slot
            .busy
            .compare_exchange(false, true, SeqCst, SeqCst)
            .is_err()
        {
            std::thread::yield_now();
        }
        // A signal still queued carries the old generation and is ignored.
        slot.generation.fetch_add(1, SeqCst);
        let state = slot.state.swap(std::ptr::null_mut(), SeqCst) as *mut T;
        slot.busy.store(false, SeqCst);
        slot.in_use.store(false, SeqCst);
        unsafe { Box::from_raw(state) }
    }

    /// Disarms the timer and returns the state, with no tick running.
    pub fn stop(self) -> Box<T> {
        unsafe {
            libc::timer_delete(self.timer);
        }
        let _ = self.state;
        Self::release_slot(self.slot)
    }
}
