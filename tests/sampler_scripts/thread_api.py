"""Profilers started in threads with the in-process API.

usage: thread_api.py signal|setprofile OUTDIR
Writes OUTDIR/worker.json (a profiler in a worker thread running worker_fn
while the main thread runs main_fn), then OUTDIR/a.json and OUTDIR/b.json
(two threads profiling themselves at the same time, running fn_a and fn_b).
"""
from __future__ import print_function

import os
import sys
import threading
import time

from pyinstrument import Profiler

USE_SIGNAL = sys.argv[1] == "signal"
OUT = sys.argv[2]


def spin(seconds):
    end = time.time() + seconds
    n = 0
    while time.time() < end:
        n += 1
    return n


def worker_fn(seconds):
    end = time.time() + seconds
    while time.time() < end:
        pass


def main_fn(done):
    while not done.is_set():
        pass


def fn_a(seconds):
    end = time.time() + seconds
    while time.time() < end:
        pass


def fn_b(seconds):
    end = time.time() + seconds
    while time.time() < end:
        pass


def profiled(target, seconds, name, started, done=None):
    profiler = Profiler(use_signal=USE_SIGNAL, interval=0.001)
    profiler.start()
    if started is not None:
        started.wait()
    target(seconds)
    profiler.stop()
    with open(os.path.join(OUT, name), "w") as f:
        f.write(profiler.output("json"))
    if done is not None:
        done.set()


# 1. A worker thread profiles itself while the main thread busy-waits.
done = threading.Event()
worker = threading.Thread(target=profiled, args=(worker_fn, 0.4, "worker.json", None, done))
worker.start()
main_fn(done)
worker.join()

# 2. Two threads profile themselves concurrently.
if hasattr(threading, "Barrier"):
    barrier = threading.Barrier(2)
else:  # Python 2: a two-party barrier from a condition
    class TwoPartyBarrier(object):
        def __init__(self):
            self.arrived = 0
            self.cond = threading.Condition()

        def wait(self):
            with self.cond:
                self.arrived += 1
                self.cond.notify_all()
                while self.arrived < 2:
                    self.cond.wait(0.01)

    barrier = TwoPartyBarrier()


class Started(object):
    def wait(self):
        barrier.wait()


a = threading.Thread(target=profiled, args=(fn_a, 0.4, "a.json", Started()))
b = threading.Thread(target=profiled, args=(fn_b, 0.4, "b.json", Started()))
a.start()
b.start()
a.join()
b.join()
print("done")
