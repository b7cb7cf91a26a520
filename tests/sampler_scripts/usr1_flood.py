"""A program that handles its own signal, flooded with it.

A helper thread sends SIGUSR1 to the process as fast as it can for about a
second, while the main thread computes, sleeps and pauses; the Python
handler does a little work. Under a sampler whose signal can nest on the
handler's stack this crashed (SIGSEGV) about once in 60-100 runs. Prints
'done' and what it computed, the same on every run.
"""
from __future__ import print_function

import os
import signal
import threading
import time

handled = [0]


def on_usr1(signum, frame):
    handled[0] += 1
    sum(i * i for i in range(50))


def flood(stop):
    pid = os.getpid()
    while not stop.is_set():
        os.kill(pid, signal.SIGUSR1)


def compute(n):
    total = 0
    for i in range(n):
        total += i % 7
    return total


signal.signal(signal.SIGUSR1, on_usr1)
stop = threading.Event()
flooder = threading.Thread(target=flood, args=(stop,))
flooder.start()
end = time.time() + 1.0
results = []
while time.time() < end:
    results.append(compute(20000))
    time.sleep(0.01)
    signal.pause()  # returns on the next SIGUSR1 of the flood
stop.set()
flooder.join()
print("done", len(set(results)), results[0], handled[0] > 0)
