"""Threads for the --all-threads tests: `four` (two computing for a known
CPU time, one sleeping, one waiting on a socket), `pool` (50 short tasks
on a thread pool, then 50 short threads), `dying` (threads that raise),
`daemon` (a daemon thread still running at exit). Prints what each thread
measured of itself as JSON on stdout."""
import json
import socket
import sys
import threading
import time

monotonic = getattr(time, "monotonic", time.time)

if hasattr(time, "thread_time"):
    thread_time = time.thread_time
else:
    # 2.7 and 3.6: the calling thread's CPU clock, through libc.
    import ctypes

    class _Timespec(ctypes.Structure):
        _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]

    _libc = ctypes.CDLL(None, use_errno=True)
    CLOCK_THREAD_CPUTIME_ID = 3

    def thread_time():
        ts = _Timespec()
        if _libc.clock_gettime(CLOCK_THREAD_CPUTIME_ID, ctypes.byref(ts)) != 0:
            raise OSError(ctypes.get_errno(), "clock_gettime")
        return ts.tv_sec + ts.tv_nsec * 1e-9

measured = {}


if hasattr(threading, "get_native_id"):
    native_id = threading.get_native_id
else:
    # 2.7-3.7: gettid through libc, set up here (an import inside a
    # measured function would count in the profile, not in its own clock).
    import ctypes
    import platform

    _syscall = ctypes.CDLL(None).syscall
    _X86_64 = platform.machine() == "x86_64"

    def native_id():
        return _syscall(186) if _X86_64 else None  # SYS_gettid


def spin(seconds):
    end = thread_time() + seconds
    x = 0
    while thread_time() < end:
        x += 1
    return x


def compute(seconds):
    t0, c0 = monotonic(), thread_time()
    spin(seconds)
    name = threading.current_thread().name
    measured[name] = [monotonic() - t0, thread_time() - c0, native_id()]


def sleeper(seconds):
    t0, c0 = monotonic(), thread_time()
    time.sleep(seconds)
    name = threading.current_thread().name
    measured[name] = [monotonic() - t0, thread_time() - c0, native_id()]


def socket_waiter(seconds):
    t0, c0 = monotonic(), thread_time()
    a, b = socket.socketpair()
    a.settimeout(seconds)
    try:
        a.recv(1)
    except socket.timeout:
        pass
    a.close()
    b.close()
    name = threading.current_thread().name
    measured[name] = [monotonic() - t0, thread_time() - c0, native_id()]


def four():
    threads = [
        threading.Thread(target=compute, args=(0.4,), name="cpu-a"),
        threading.Thread(target=compute, args=(0.2,), name="cpu-b"),
        threading.Thread(target=sleeper, args=(0.8,), name="sleepy"),
        threading.Thread(target=socket_waiter, args=(0.6,), name="sockety"),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


task_cpu = []


def short_task(i):
    c0 = thread_time()
    spin(0.004)
    time.sleep(0.004)
    task_cpu.append(thread_time() - c0)
    return i


KEPT = []


class SimplePool(object):
    """2.7 has no concurrent.futures: 8 threads named like its pool's
    (`pool_N`) whose `_worker` runs the tasks from a queue."""

    def __init__(self, max_workers, thread_name_prefix):
        import Queue

        self.tasks = Queue.Queue()
        self.results = []
        self.threads = [
            threading.Thread(target=self._worker, name="%s_%d" % (thread_name_prefix, i))
            for i in range(max_workers)
        ]
        for t in self.threads:
            t.start()

    def _worker(self):
        while True:
            task = self.tasks.get()
            if task is None:
                return
            function, argument = task
            self.results.append(function(argument))

    def map(self, function, arguments):
        for argument in arguments:
            self.tasks.put((function, argument))
        for _ in self.threads:
            self.tasks.put(None)
        for t in self.threads:
            t.join()
        return self.results

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def pool():
    try:
        from concurrent.futures import ThreadPoolExecutor
    except ImportError:  # 2.7: a pool of its own, of the same shape
        ThreadPoolExecutor = SimplePool

    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="pool") as executor:
        assert sorted(executor.map(short_task, range(50))) == list(range(50))
    threads = [
        threading.Thread(target=short_task, args=(i,), name="short-%d" % i)
        for i in range(50)
    ]
    # Kept until the program ends: a thread's name is read from its Thread
    # object, either while the program runs (a pending call the sampling
    # thread queues when it first sees the thread) or when profiling stops.
    # A thread that the sampling thread first sees as it ends, whose object
    # is freed before that pending call runs, stays unnamed ("Thread (tid
    # N)", see the README): 2 runs in 10 lost one name so when this list
    # was local.
    KEPT.extend(threads)
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    measured["tasks_cpu"] = sum(task_cpu)
    measured["tasks"] = len(task_cpu)


def doomed(seconds, previous):
    spin(seconds)
    # Die after the previous doomed thread has: threads that die at once
    # print their tracebacks interleaved ("Exception in thread Exception in
    # thread doomed-1:"), differently from run to run.
    if previous is not None:
        previous.join()
    raise ValueError("this thread dies")


def dying():
    threads = []
    for i in range(4):
        previous = threads[-1] if threads else None
        threads.append(threading.Thread(target=doomed, args=(0.05, previous), name="doomed-%d" % i))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    measured["alive"] = [t.name for t in threads if t.is_alive()]


def forever():
    while True:
        spin(0.01)
        time.sleep(0.01)


def daemon():
    immortal = threading.Thread(target=forever, name="immortal")
    immortal.daemon = True
    immortal.start()
    time.sleep(0.4)


{"four": four, "pool": pool, "dying": dying, "daemon": daemon}[sys.argv[1]]()
print(json.dumps(measured))
