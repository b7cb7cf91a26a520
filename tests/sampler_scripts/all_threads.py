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

# 2.7 and 3.6 (where --all-threads is refused) run `four` unprofiled and
# for the default report only.
thread_time = getattr(time, "thread_time", None) or getattr(time, "process_time", None) or time.clock
monotonic = getattr(time, "monotonic", time.time)

measured = {}


def native_id():
    return getattr(threading, "get_native_id", lambda: None)()


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


def pool():
    from concurrent.futures import ThreadPoolExecutor

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
    threading.Thread(target=forever, name="immortal", daemon=True).start()
    time.sleep(0.4)


{"four": four, "pool": pool, "dying": dying, "daemon": daemon}[sys.argv[1]]()
print(json.dumps(measured))
