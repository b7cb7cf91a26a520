"""A known split of CPU and wall time in one thread: compute() runs on a CPU
for about SECONDS; wait() sleeps for SECONDS, then waits on a socket for
SECONDS. Prints the CPU time compute() measured itself."""
import select
import socket
import sys
import time

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 0.3

try:
    thread_time = time.thread_time  # 3.7+
except AttributeError:
    # 2.7 and 3.6: the process's CPU time; this program has one thread.
    thread_time = getattr(time, "process_time", time.clock)


def step(x):
    return x * 3 + 1


def compute():
    start = thread_time()
    n = 0
    while thread_time() - start < SECONDS:
        for _ in range(200):
            n = step(n) % 1000
    return thread_time() - start


def wait():
    time.sleep(SECONDS)
    a, b = socket.socketpair()
    select.select([a], [], [], SECONDS)
    a.close()
    b.close()


used = compute()
wait()
print("compute_cpu %.6f" % used)
