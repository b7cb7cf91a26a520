"""Benchmark workload for --all-threads: 8 threads, 4 running the call-heavy
loop of call_heavy.py (N iterations shared between them) and 4 blocked
until they finish (2 waiting on a socket, 2 on a threading.Event).

usage: threads_mixed.py [ITERATIONS]     (default 40000)
Prints "BENCH_WORKLOAD_SECONDS <t>": the wall time from starting the
threads to joining them, and "BENCH_WORKLOAD_CPU_SECONDS <t>": the process
CPU time of that span.
"""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from call_heavy import Accumulator, one_iteration  # noqa: E402


def compute(start, count):
    acc = Accumulator()
    for i in range(start, start + count):
        one_iteration(i, acc)


def wait_socket(sock):
    sock.recv(1)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 40000
    done = threading.Event()
    pairs = [socket.socketpair() for _ in range(2)]
    workers = [
        threading.Thread(target=compute, args=(k * (n // 4), n // 4), name="compute-%d" % k)
        for k in range(4)
    ]
    waiters = [threading.Thread(target=wait_socket, args=(a,), name="socket-%d" % k)
               for k, (a, b) in enumerate(pairs)]
    waiters += [threading.Thread(target=done.wait, name="event-%d" % k) for k in range(2)]
    t0 = time.perf_counter()
    c0 = time.process_time()
    for t in waiters + workers:
        t.start()
    for t in workers:
        t.join()
    done.set()
    for a, b in pairs:
        b.send(b"x")
    for t in waiters:
        t.join()
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - c0
    print("BENCH_WORKLOAD_SECONDS %.6f" % elapsed)
    print("BENCH_WORKLOAD_CPU_SECONDS %.6f" % cpu)


if __name__ == "__main__":
    main()
