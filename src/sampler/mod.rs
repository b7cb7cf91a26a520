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
#[cfg(not(any(py_2_7, py_3_6)))]
use crate::ffi::gated_sampler::AllThreadsSampler;
use crate::ffi::gated_sampler::GateCounts;
#[cfg(not(any(py_2_7, py_3_6)))]
use crate::ffi::gated_sampler::GatedSampler as SignalEngine;
use crate::ffi::gil::Gil;
#[cfg(any(py_2_7, py_3_6))]
use crate::ffi::gil_sampler::GilSampler as SignalEngine;
use crate::ffi::setprofile::all_threads::AllThreadsHook;
use crate::ffi::setprofile::{Event, EventKind, ProfileHook};
use crate::ffi::stack::{
    monotonic_ns, prepare_traceback_hide, process_cpu_ns, thread_cpu_ns, StoppedThread,
};
use crate::ffi::threads::{thread_names, ThreadRecording};
use crate::sample::{FrameId, StackRecord};
use recorder::{Recorder, MAX_DEPTH};

pub use crate::sample::{Mode, Recording};

struct SignalState {
    recorder: Recorder,
    scratch: Box<[RawFrame]>,
    /// 2.7, 3.6 `--all-threads`: the next tick is the thread's first (see
    /// `first_tick_then_signal_tick`). Always false on 3.7+.
    #[cfg_attr(not(any(py_2_7, py_3_6)), allow(dead_code))]
    first_tick: bool,
}

/// Runs in the SIGPROF handler on the profiled thread, or on the sampling
/// thread while the profiled thread cannot run Python code. Signal safe.
fn signal_tick(state: &mut SignalState, thread: &StoppedThread<'_>) {
    let now = monotonic_ns();
    let cpu = thread.cpu_ns();
    let SignalState {
        recorder, scratch, ..
    } = state;
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
    setprofile_sample(state, event);
}

/// `setprofile_event`, saying whether it sampled.
fn setprofile_sample(state: &mut SetprofileState, event: &Event) -> bool {
    let now = monotonic_ns();
    if now < state.next_sample_ns {
        return false;
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
    true
}

/// A thread's state for `--all-threads` in setprofile mode: made on the
/// thread, at its first event.
fn setprofile_thread_state(interval_ns: u64) -> Box<dyn Fn(u64, u64) -> Box<SetprofileState>> {
    Box::new(move |first_ns, first_cpu_ns| {
        let mut recorder = Recorder::for_thread();
        recorder.restart_clocks(first_ns, first_cpu_ns);
        Box::new(SetprofileState {
            recorder,
            scratch: scratch(),
            interval_ns,
            next_sample_ns: first_ns + interval_ns,
            name_buffer: [0; 256],
        })
    })
}

/// Room for the deepest stack recorded (the walk keeps the outermost
/// frames of deeper ones).
fn scratch() -> Box<[RawFrame]> {
    vec![RawFrame::EMPTY; MAX_DEPTH].into_boxed_slice()
}

/// A thread's state for `--all-threads`: made on the sampling thread
/// (2.7, 3.6: in a tick, with the GIL).
fn thread_state() -> Box<SignalState> {
    Box::new(SignalState {
        recorder: Recorder::for_thread(),
        scratch: scratch(),
        first_tick: false,
    })
}

/// 2.7, 3.6: as [`begin_thread`], and the thread's first tick is marked.
#[cfg(any(py_2_7, py_3_6))]
fn begin_gil_thread(state: &mut SignalState, start_ns: u64, start_cpu_ns: u64) {
    begin_thread(state, start_ns, start_cpu_ns);
    state.first_tick = true;
}

/// 2.7, 3.6 `--all-threads`: a thread's first tick gives the wall time
/// since its clocks started (its start, or the previous walk) to its
/// outermost frame, and its CPU time to the stack sampled. Where the
/// thread was in that time is unknown; on 2.7 and 3.6 it is mostly
/// starting and waiting for the GIL (a new thread gets it late while
/// others compute, and the sampling thread waits for it too), which would
/// otherwise all go to whatever function the first tick finds it in.
#[cfg(any(py_2_7, py_3_6))]
fn first_tick_then_signal_tick(state: &mut SignalState, thread: &StoppedThread<'_>) {
    if std::mem::take(&mut state.first_tick) {
        let now = monotonic_ns();
        let SignalState {
            recorder, scratch, ..
        } = &mut *state;
        thread.with_live_stack(scratch, |stack| {
            recorder.record_timed(
                stack.len(),
                |i| stack.from_outermost(i),
                stack.code_generation(),
                stack.len().saturating_sub(1),
                None,
                now,
                // No CPU clock reading: the CPU time stays for the stack.
                0,
            )
        });
    }
    signal_tick(state, thread);
}

fn begin_thread(state: &mut SignalState, start_ns: u64, start_cpu_ns: u64) {
    state.recorder.restart_clocks(start_ns, start_cpu_ns);
}

enum Engine {
    Signal(SignalEngine<SignalState>),
    #[cfg(not(any(py_2_7, py_3_6)))]
    AllThreads(AllThreadsSampler<SignalState>),
    /// `--all-threads` on 2.7 and 3.6.
    #[cfg(any(py_2_7, py_3_6))]
    GilAllThreads(SignalEngine<SignalState>),
    Setprofile(ProfileHook<SetprofileState>),
    SetprofileAllThreads(AllThreadsHook<SetprofileState>),
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
    pub fn start(gil: Gil<'_>, mode: Mode, interval: f64, all_threads: bool) -> Result<Sampler> {
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
        let started = |engine, mode, notes| Sampler {
            engine,
            mode,
            interval,
            start_ns,
            start_cpu_ns,
            start_thread_cpu_ns,
            start_time,
            notes,
        };

        if all_threads {
            if mode == Mode::Setprofile {
                return match AllThreadsHook::install(
                    gil,
                    setprofile_thread_state(interval_ns),
                    setprofile_sample,
                ) {
                    Ok(hook) => Ok(started(Engine::SetprofileAllThreads(hook), mode, notes)),
                    Err(message) => Err(Error::Sampler(format!(
                        "cannot profile all threads: {message}"
                    ))),
                };
            }
            #[cfg(any(py_2_7, py_3_6))]
            let engine = SignalEngine::start_all(
                gil,
                interval_ns,
                thread_state,
                begin_gil_thread,
                first_tick_then_signal_tick,
            )
            .map(Engine::GilAllThreads);
            #[cfg(not(any(py_2_7, py_3_6)))]
            let engine =
                AllThreadsSampler::start(gil, interval_ns, thread_state, begin_thread, signal_tick)
                    .map(Engine::AllThreads);
            return engine
                .map(|engine| started(engine, mode, notes))
                .map_err(|message| {
                    Error::Sampler(format!("cannot sample all threads: {message}"))
                });
        }

        if mode == Mode::Signal {
            let state = Box::new(SignalState {
                recorder: Recorder::new(start_ns, start_thread_cpu_ns),
                scratch: scratch(),
                first_tick: false,
            });
            match SignalEngine::start(gil, state, interval_ns, signal_tick) {
                Ok(timer) => return Ok(started(Engine::Signal(timer), mode, notes)),
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
        Ok(started(Engine::Setprofile(hook), Mode::Setprofile, notes))
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
        let (mut recording, gate_counts) = match self.engine {
            #[cfg(not(any(py_2_7, py_3_6)))]
            Engine::AllThreads(engine) => {
                let (threads, counts) = engine.stop(gil);
                let recording =
                    all_threads_recording(gil, threads, |state| state.recorder, &mut notes);
                if counts.head_lock_busy > 0 {
                    notes.push(format!(
                        "{} intervals were skipped because the interpreter's thread list was locked",
                        counts.head_lock_busy
                    ));
                }
                if counts.untracked > 0 {
                    notes.push(
                        "some threads were not sampled: more threads ran at once than pyinstrument follows".to_string(),
                    );
                }
                note_handler_replaced(&mut notes);
                (recording, counts.gate)
            }
            #[cfg(any(py_2_7, py_3_6))]
            Engine::GilAllThreads(engine) => {
                let (threads, counts, cut_walks) = engine.stop_all(gil);
                let recording =
                    all_threads_recording(gil, threads, |state| state.recorder, &mut notes);
                if cut_walks > 0 {
                    notes.push(format!(
                        "{cut_walks} intervals sampled only part of the threads: a thread was entering Python from C at that moment"
                    ));
                }
                (recording, counts)
            }
            Engine::SetprofileAllThreads(hook) => {
                let stopped = hook.uninstall(gil);
                let recording =
                    all_threads_recording(gil, stopped.threads, |state| state.recorder, &mut notes);
                if stopped.replaced > 0 {
                    notes.push(format!(
                        "the program replaced pyinstrument's profile function (sys.setprofile) in {} thread{}, so sampling stopped early there",
                        stopped.replaced,
                        if stopped.replaced == 1 { "" } else { "s" }
                    ));
                }
                (recording, GateCounts::default())
            }
            Engine::Signal(engine) => {
                let (state, counts) = engine.stop(gil);
                note_handler_replaced(&mut notes);
                let recording = one_thread_recording(
                    state.recorder,
                    end_ns,
                    (self.start_thread_cpu_ns, end_thread_cpu_ns),
                    &mut notes,
                );
                (recording, counts)
            }
            Engine::Setprofile(hook) => {
                let (state, replaced) = hook.uninstall(gil);
                if replaced {
                    notes.push(
                        "the program replaced pyinstrument's profile function (sys.setprofile), so sampling stopped early"
                            .to_string(),
                    );
                }
                let recording = one_thread_recording(
                    state.recorder,
                    end_ns,
                    (self.start_thread_cpu_ns, end_thread_cpu_ns),
                    &mut notes,
                );
                (recording, GateCounts::default())
            }
        };
        recording.start_time = self.start_time;
        recording.duration = end_ns.saturating_sub(self.start_ns) as f64 / 1e9;
        recording.cpu_time = end_cpu_ns.saturating_sub(self.start_cpu_ns) as f64 / 1e9;
        recording.mode = self.mode;
        recording.interval = self.interval;
        recording.notes = notes;
        (recording, gate_counts)
    }
}

/// Signal mode on 3.7+: says so if the program replaced our SIGPROF
/// handler (2.7 and 3.6 send no signal).
fn note_handler_replaced(notes: &mut Vec<String>) {
    #[cfg(not(any(py_2_7, py_3_6)))]
    if gated_sampler::handler_replaced() {
        notes.push(
            "the program replaced pyinstrument's SIGPROF handler, so sampling stopped early"
                .to_string(),
        );
    }
    #[cfg(any(py_2_7, py_3_6))]
    let _ = notes;
}

/// The one profiled thread's recording (the caller fills in the run's
/// times, mode and notes), given its CPU clock at start and at stop.
fn one_thread_recording(
    mut recorder: Recorder,
    end_ns: u64,
    (start_cpu_ns, end_cpu_ns): (u64, u64),
    notes: &mut Vec<String>,
) -> Recording {
    recorder.finish(end_ns, end_cpu_ns);
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
    Recording {
        frames: aggregate.frames,
        stacks: aggregate.stacks,
        stack_cpu_times: aggregate.stack_cpu_times,
        thread_cpu_time: end_cpu_ns.saturating_sub(start_cpu_ns) as f64 / 1e9,
        timeline: aggregate.timeline,
        sample_count: aggregate.sample_count,
        start_time: 0.0,
        duration: 0.0,
        cpu_time: 0.0,
        mode: Mode::Signal,
        interval: 0.0,
        notes: Vec::new(),
        threads: Vec::new(),
    }
}

/// Every thread's recording as one: each thread's stacks under a root frame
/// naming it (`Thread 'name' (tid N)`), its time-order log after the
/// previous thread's. Names come from `threading`, with the GIL.
/// `recorder` takes a thread's state's recorder.
fn all_threads_recording<T>(
    gil: Gil<'_>,
    threads: Vec<ThreadRecording<T>>,
    recorder: fn(Box<T>) -> Recorder,
    notes: &mut Vec<String>,
) -> Recording {
    use std::collections::HashMap;
    let names = thread_names(gil, &threads);
    let mut frames: Vec<FrameId> = Vec::new();
    let mut frame_index: HashMap<FrameId, u32> = HashMap::new();
    let mut intern = |frame: FrameId, frames: &mut Vec<FrameId>| -> u32 {
        *frame_index.entry(frame.clone()).or_insert_with(|| {
            frames.push(frame);
            (frames.len() - 1) as u32
        })
    };
    let mut stacks = Vec::new();
    let mut stack_cpu_times = Vec::new();
    let mut timeline = Vec::new();
    let mut infos = Vec::new();
    let mut sample_count = 0;
    let mut thread_cpu = 0.0;
    let (mut overflowed, mut unlogged) = (0, 0);
    let mut order: Vec<usize> = (0..threads.len()).collect();
    order.sort_by_key(|&i| threads[i].first_ns);
    let mut threads: Vec<Option<_>> = threads.into_iter().map(Some).collect();
    for i in order {
        let Some(thread) = threads[i].take() else {
            continue;
        };
        let mut recorder = recorder(thread.state);
        recorder.finish(thread.last_ns, thread.last_cpu_ns);
        let aggregate = recorder.into_aggregate();
        if aggregate.sample_count == 0 {
            continue; // never ran Python code while profiled
        }
        overflowed += aggregate.overflowed_samples;
        unlogged += aggregate.unlogged_samples;
        let label = crate::sample::ThreadInfo::label(names[i].as_deref(), thread.native_id);
        let root = intern(
            FrameId::new(&label, crate::sample::THREAD_FILE, 0),
            &mut frames,
        );
        let map: Vec<u32> = aggregate
            .frames
            .into_iter()
            .map(|f| intern(f, &mut frames))
            .collect();
        let base = stacks.len() as u32;
        for (s, stack) in aggregate.stacks.into_iter().enumerate() {
            let mut ids = Vec::with_capacity(stack.frames.len() + 1);
            ids.push(root);
            ids.extend(stack.frames.iter().map(|&f| map[f as usize]));
            stacks.push(StackRecord {
                frames: ids,
                time: stack.time,
                samples: stack.samples,
            });
            stack_cpu_times.push(aggregate.stack_cpu_times.get(s).copied().unwrap_or(0.0));
        }
        timeline.extend(aggregate.timeline.into_iter().map(|mut run| {
            run.stack += base;
            run
        }));
        sample_count += aggregate.sample_count;
        let cpu = thread.last_cpu_ns.saturating_sub(thread.first_cpu_ns) as f64 / 1e9;
        thread_cpu += cpu;
        infos.push(crate::sample::ThreadInfo {
            name: names[i].clone(),
            native_id: thread.native_id,
            ident: thread.ident,
            frame: root,
            wall_time: thread.last_ns.saturating_sub(thread.first_ns) as f64 / 1e9,
            cpu_time: cpu,
            ended: thread.ended,
        });
    }
    if overflowed > 0 {
        notes.push(format!(
            "{overflowed} samples had stacks beyond the profile's table size and were cut short"
        ));
    }
    if unlogged > 0 {
        notes.push(format!(
            "the timeline log was full: {unlogged} samples count in the totals but their order was not kept"
        ));
    }
    Recording {
        frames,
        stacks,
        stack_cpu_times,
        thread_cpu_time: thread_cpu,
        timeline,
        sample_count,
        start_time: 0.0,
        duration: 0.0,
        cpu_time: 0.0,
        mode: Mode::Signal,
        interval: 0.0,
        notes: Vec::new(),
        threads: infos,
    }
}
