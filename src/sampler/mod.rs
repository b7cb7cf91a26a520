//! The two samplers behind one interface. Both profile the thread that
//! starts them and feed the same `Recorder`; what comes out is plain data
//! (`Recording`) that knows nothing of how it was taken.
//!
//! - Signal mode: a sampling thread that sends SIGPROF to the profiled
//!   thread only while it runs with the GIL (the handler walks its frames:
//!   no GIL, no allocation, no Python API), and walks them itself while the
//!   thread is blocked, so no blocking call is ever interrupted
//!   (`ffi::gated_sampler`; on 2.7 and 3.6 `ffi::gil_sampler`).
//! - Setprofile mode: a C profile function; most events only read the clock,
//!   and once the interval has elapsed the event records the stack.
//!
//! Turning a recording into a session (and leaving our own frames out of
//! it) is the session module's work.

pub mod recorder;

use crate::error::{Error, Result};
use crate::ffi::code_lifetime;
use crate::ffi::frames::RawFrame;
#[cfg(not(any(py_2_7, py_3_6)))]
use crate::ffi::gated_sampler;
use crate::ffi::gated_sampler::GateCounts;
#[cfg(not(any(py_2_7, py_3_6)))]
use crate::ffi::gated_sampler::GatedSampler as SignalEngine;
use crate::ffi::gil::Gil;
#[cfg(any(py_2_7, py_3_6))]
use crate::ffi::gil_sampler::GilSampler as SignalEngine;
use crate::ffi::setprofile::{Event, EventKind, ProfileHook};
use crate::ffi::stack::{
    monotonic_ns, prepare_traceback_hide, process_cpu_ns, thread_cpu_ns, StoppedThread,
};
use recorder::{Recorder, MAX_DEPTH};

pub use crate::sample::{Mode, Recording};

struct SignalState {
    recorder: Recorder,
    scratch: Box<[RawFrame]>,
}

/// Runs in the SIGPROF handler on the profiled thread, or on the sampling
/// thread while the profiled thread cannot run Python code. Signal safe.
fn signal_tick(state: &mut SignalState, thread: &StoppedThread<'_>) {
    let now = monotonic_ns();
    let cpu = thread.cpu_ns();
    let SignalState { recorder, scratch } = state;
    thread.with_live_stack(scratch, |stack| {
        recorder.record_timed(
            stack.len(),
            |i| stack.from_outermost(i),
            stack.code_generation(),
            0,
            None,
            now,
            cpu,
        )
    });
}

struct SetprofileState {
    recorder: Recorder,
    scratch: Box<[RawFrame]>,
    interval_ns: u64,
    /// No sample before this time: an interval after the previous sample
    /// was *finished*, so a slow walk cannot make every event sample.
    next_sample_ns: u64,
    name_buffer: [u8; 256],
}

/// Runs on every profile event of the profiled thread; cheap unless the
/// interval has elapsed.
fn setprofile_event(state: &mut SetprofileState, event: &Event) {
    let now = monotonic_ns();
    if now < state.next_sample_ns {
        return;
    }
    let SetprofileState {
        recorder,
        scratch,
        name_buffer,
        ..
    } = state;
    // The time since the last sample was spent by the stack as it was just
    // before this event: on a call, by the caller; on a C return, by the C
    // function, shown as a leaf under the Python code that called it.
    let (skip_innermost, builtin) = match event.kind {
        EventKind::Call => (1, None),
        EventKind::Return | EventKind::CCall => (0, None),
        EventKind::CReturn => (0, Some(event.builtin_name(name_buffer))),
    };
    let thread = event.thread();
    let cpu = thread.cpu_ns();
    thread.with_live_stack(scratch, |stack| {
        recorder.record_timed(
            stack.len(),
            |i| stack.from_outermost(i),
            stack.code_generation(),
            skip_innermost,
            builtin,
            now,
            cpu,
        )
    });
    state.next_sample_ns = monotonic_ns() + state.interval_ns;
}

/// Room for the deepest stack recorded (the walk keeps the outermost
/// frames of deeper ones).
fn scratch() -> Box<[RawFrame]> {
    vec![RawFrame::EMPTY; MAX_DEPTH].into_boxed_slice()
}

enum Engine {
    Signal(SignalEngine<SignalState>),
    Setprofile(ProfileHook<SetprofileState>),
}

/// A sampler profiling the thread that started it.
pub struct Sampler {
    engine: Engine,
    mode: Mode,
    interval: f64,
    start_ns: u64,
    start_cpu_ns: u64,
    /// The profiled thread's own CPU clock at start.
    start_thread_cpu_ns: u64,
    start_time: f64,
    notes: Vec<String>,
}

impl Sampler {
    /// Starts profiling the calling thread, which must hold the GIL. If
    /// signal mode cannot start, falls back to setprofile mode and says so
    /// in the recording's notes.
    pub fn start(gil: Gil<'_>, mode: Mode, interval: f64) -> Result<Sampler> {
        if !(interval > 0.0 && interval.is_finite()) {
            return Err(Error::Sampler(format!(
                "the interval must be a positive number of seconds, not {interval}"
            )));
        }
        let interval_ns = ((interval * 1e9) as u64).max(1_000);
        // Both modes walk frames with the layout compiled in: never against
        // an interpreter that says its fields are elsewhere.
        gil.layout()
            .map_err(|message| Error::Sampler(format!("cannot profile this Python: {message}")))?;
        prepare_traceback_hide(gil);
        // Lets the recorder trust frames it has already proven for as long as
        // no code object is freed.
        code_lifetime::count_code_deallocations();
        let start_time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let start_cpu_ns = process_cpu_ns();
        let start_thread_cpu_ns = thread_cpu_ns();
        let start_ns = monotonic_ns();
        let mut notes = Vec::new();

        if mode == Mode::Signal {
            let state = Box::new(SignalState {
                recorder: Recorder::new(start_ns, start_thread_cpu_ns),
                scratch: scratch(),
            });
            match SignalEngine::start(gil, state, interval_ns, signal_tick) {
                Ok(timer) => {
                    return Ok(Sampler {
                        engine: Engine::Signal(timer),
                        mode,
                        interval,
                        start_ns,
                        start_cpu_ns,
                        start_thread_cpu_ns,
                        start_time,
                        notes,
                    })
                }
                Err(message) => {
                    notes.push(format!(
                        "signal mode unavailable ({message}); fell back to setprofile mode"
                    ));
                }
            }
        }

        let state = Box::new(SetprofileState {
            recorder: Recorder::new(start_ns, start_thread_cpu_ns),
            scratch: scratch(),
            interval_ns,
            next_sample_ns: start_ns + interval_ns,
            name_buffer: [0; 256],
        });
        let hook = ProfileHook::install(gil, state, setprofile_event).map_err(Error::Sampler)?;
        Ok(Sampler {
            engine: Engine::Setprofile(hook),
            mode: Mode::Setprofile,
            interval,
            start_ns,
            start_cpu_ns,
            start_thread_cpu_ns,
            start_time,
            notes,
        })
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Stops sampling and returns what was recorded. Call from the thread
    /// that started the sampler (setprofile mode requires it).
    pub fn stop(self, gil: Gil<'_>) -> Recording {
        self.stop_counting(gil).0
    }

    /// `stop`, and in signal mode how each interval was sampled (which is
    /// not part of a recording: the tests look at it).
    pub fn stop_counting(self, gil: Gil<'_>) -> (Recording, GateCounts) {
        let end_ns = monotonic_ns();
        let end_cpu_ns = process_cpu_ns();
        // On the profiled thread (see above).
        let end_thread_cpu_ns = thread_cpu_ns();
        let mut notes = self.notes;
        let mut gate_counts = GateCounts::default();
        let mut recorder = match self.engine {
            Engine::Signal(engine) => {
                let (state, counts) = engine.stop(gil);
                gate_counts = counts;
                #[cfg(not(any(py_2_7, py_3_6)))]
                if gated_sampler::handler_replaced() {
                    notes.push(
                        "the program replaced pyinstrument's SIGPROF handler, so sampling stopped early".to_string(),
                    );
                }
                state.recorder
            }
            Engine::Setprofile(hook) => {
                let (state, replaced) = hook.uninstall(gil);
                if replaced {
                    notes.push(
                        "the program replaced pyinstrument's profile function (sys.setprofile), so sampling stopped early"
                            .to_string(),
                    );
                }
                state.recorder
            }
        };
        recorder.finish(end_ns, end_thread_cpu_ns);
        let aggregate = recorder.into_aggregate();
        if aggregate.overflowed_samples > 0 {
            notes.push(format!(
                "{} samples had stacks beyond the profile's table size and were cut short",
                aggregate.overflowed_samples
            ));
        }
        if aggregate.unlogged_samples > 0 {
            notes.push(format!(
                "the timeline log was full: the last {} samples ({:.3} s) count in the totals but their order was not kept",
                aggregate.unlogged_samples, aggregate.unlogged_time
            ));
        }
        let recording = Recording {
            frames: aggregate.frames,
            stacks: aggregate.stacks,
            stack_cpu_times: aggregate.stack_cpu_times,
            thread_cpu_time: end_thread_cpu_ns.saturating_sub(self.start_thread_cpu_ns) as f64
                / 1e9,
            timeline: aggregate.timeline,
            sample_count: aggregate.sample_count,
            start_time: self.start_time,
            duration: end_ns.saturating_sub(self.start_ns) as f64 / 1e9,
            cpu_time: end_cpu_ns.saturating_sub(self.start_cpu_ns) as f64 / 1e9,
            mode: self.mode,
            interval: self.interval,
            notes,
        };
        (recording, gate_counts)
    }
}
