#![cfg(feature = "python3")] // 2.7 samples from a thread: no signal handler to check (see below)
//! Proves that signal-mode ticks never allocate: a counting global allocator
//! records every allocation made on the thread running a tick while it is
//! in progress (`TICKS_IN_PROGRESS > 0` on `TICK_THREAD`: the sampled
//! thread's signal handler, or the sampling thread reading a blocked
//! thread), and a real workload (nested calls, code objects created and
//! freed, a sleep) is profiled at 0.5 ms.

use pyinstrument::ffi::gated_sampler::{TICKS_IN_PROGRESS, TICK_THREAD};
use pyinstrument::ffi::interpreter;
use pyinstrument::sampler::{Mode, Sampler};
use python3_sys as py;
use std::alloc::{GlobalAlloc, Layout, System};
use std::ffi::CString;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

struct CountingAllocator;

/// Allocations (and reallocations) made by the thread running a tick.
static DURING_TICKS: AtomicUsize = AtomicUsize::new(0);

fn count_if_in_tick() {
    if TICKS_IN_PROGRESS.load(SeqCst) > 0 {
        let tid = TICK_THREAD.load(SeqCst);
        // Another thread allocating at that moment (the test harness, the
        // program while its frames are read) is not the tick's doing.
        if tid != 0 && unsafe { libc::gettid() } as i64 == tid {
            DURING_TICKS.fetch_add(1, SeqCst);
        }
    }
}

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_if_in_tick();
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_if_in_tick();
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_if_in_tick();
        System.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count_if_in_tick();
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const WORKLOAD: &str = r#"
import time, gc

def leaf(n):
    s = 0
    for i in range(n):
        s += i * i
    return s

def middle(n):
    return leaf(n) + leaf(n // 2)

def outer(n):
    return middle(n) + sum(middle(k) for k in range(3))

def churn(i):
    ns = {}
    exec(compile("def g%d(x):\n    return [x * k for k in range(50)]\n" % i, "<g%d>" % i, "exec"), ns)
    return len(ns["g%d" % i](i))

def recurse(d):
    if d == 0:
        return outer(200)
    return recurse(d - 1)

end = time.time() + 0.5
i = 0
while time.time() < end:
    outer(300)
    churn(i)
    recurse(30)
    i += 1
    if i % 50 == 0:
        gc.collect()
time.sleep(0.1)
"#;

/// Two threads running the workload's functions while the main thread
/// waits (run after WORKLOAD, in the same `__main__`).
#[cfg(not(any(py_2_7, py_3_6)))]
const THREADED_WORKLOAD: &str = r#"
import threading

def work():
    end = time.time() + 0.3
    while time.time() < end:
        outer(300)
        time.sleep(0.001)

threads = [threading.Thread(target=work) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
"#;

#[test]
#[cfg_attr(
    py_3_6,
    ignore = "3.6 samples with pending calls and the GIL (ffi::gil_sampler), not from a signal handler"
)]
fn signal_ticks_never_allocate() {
    unsafe {
        // Python's own allocations happen outside ticks; start it first.
        interpreter::set_program_name(env!("PYINSTRUMENT_BUILD_PYTHON"));
        let interpreter = interpreter::initialize();
        let gil = interpreter.gil();

        // The counter itself works: an allocation made "during a tick" on
        // this thread is counted.
        TICK_THREAD.store(libc::gettid() as i64, SeqCst);
        TICKS_IN_PROGRESS.fetch_add(1, SeqCst);
        let probe = std::hint::black_box(Box::new(42u64));
        TICKS_IN_PROGRESS.fetch_sub(1, SeqCst);
        drop(probe);
        assert!(
            DURING_TICKS.load(SeqCst) >= 1,
            "the counting allocator does not count"
        );
        DURING_TICKS.store(0, SeqCst);

        let sampler =
            Sampler::start(gil, Mode::Signal, 0.0005, false).expect("start the signal sampler");
        assert_eq!(
            sampler.mode(),
            Mode::Signal,
            "signal mode fell back to setprofile"
        );
        let code = CString::new(WORKLOAD).unwrap();
        let status = py::PyRun_SimpleStringFlags(code.as_ptr(), std::ptr::null_mut());
        let (recording, counts) = sampler.stop_counting(gil);
        let allocations = DURING_TICKS.load(SeqCst);
        assert_eq!(status, 0, "the workload raised (see stderr)");

        assert!(
            recording.sample_count > 100,
            "only {} samples in {:.3} s at 0.5 ms (notes: {:?})",
            recording.sample_count,
            recording.duration,
            recording.notes
        );
        assert_eq!(
            allocations, 0,
            "{allocations} allocations inside {} ticks",
            recording.sample_count
        );
        // Both kinds of tick ran: in the handler while the workload ran,
        // on the sampling thread while it slept.
        assert!(
            counts.on_thread > 50 && counts.read_while_blocked > 10,
            "{counts:?}"
        );
        // The samples saw the workload's functions.
        let names: Vec<&str> = recording
            .frames
            .iter()
            .map(|f| f.function.as_str())
            .collect();
        for want in ["leaf", "middle", "outer"] {
            assert!(names.contains(&want), "no {want} in {names:?}");
        }
        // The ticks also wrote the time-order log (so its writes are among
        // the ticks proven allocation-free above): several runs, and summed
        // per stack, exactly the aggregated samples.
        assert!(
            recording.timeline.len() > 20,
            "only {} timeline runs",
            recording.timeline.len()
        );
        let mut logged = vec![0u64; recording.stacks.len()];
        for run in &recording.timeline {
            logged[run.stack as usize] += run.samples as u64;
        }
        let aggregated: Vec<u64> = recording.stacks.iter().map(|s| s.samples).collect();
        assert_eq!(logged, aggregated);
        // The ticks read the thread's CPU clock too (in the handler and on
        // the sampling thread, among the ticks proven allocation-free): they
        // add up to the thread's CPU time, which its computing made
        // non-zero. (How much CPU a 0.5 s wall-clock loop gets depends on
        // the machine's load: sampler_behaviour checks amounts.)
        assert_eq!(recording.stack_cpu_times.len(), recording.stacks.len());
        let cpu: f64 = recording.stack_cpu_times.iter().sum();
        assert!(
            cpu > 0.01 && (cpu - recording.thread_cpu_time).abs() <= 0.002,
            "stacks' CPU {cpu:.4} s, thread CPU {:.4} s, wall {:.4} s",
            recording.thread_cpu_time,
            recording.duration
        );

        // --all-threads (3.7+): the same ticks, run for every thread, in
        // their handlers and on the sampling thread.
        #[cfg(not(any(py_2_7, py_3_6)))]
        {
            DURING_TICKS.store(0, SeqCst);
            let sampler =
                Sampler::start(gil, Mode::Signal, 0.0005, true).expect("sample all threads");
            let code = CString::new(THREADED_WORKLOAD).unwrap();
            let status = py::PyRun_SimpleStringFlags(code.as_ptr(), std::ptr::null_mut());
            let recording = sampler.stop(gil);
            let allocations = DURING_TICKS.load(SeqCst);
            assert_eq!(status, 0, "the threaded workload raised (see stderr)");
            assert!(
                recording.threads.len() >= 3 && recording.sample_count > 100,
                "{} threads, {} samples",
                recording.threads.len(),
                recording.sample_count
            );
            assert_eq!(
                allocations, 0,
                "{allocations} allocations inside {} all-threads ticks",
                recording.sample_count
            );
        }
    }
}
