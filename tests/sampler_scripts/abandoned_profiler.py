"""Threads start a profiler (signal mode) and end without stopping it, more
of them than there are sampler slots (256). Then a profiler starts and
stops normally. Prints how many more native threads the process has at the
end than at the start (0 when the abandoned profilers' sampling threads
stopped with them), then "ok" if the last profiler could still start
in signal mode (the abandoned ones gave their slots back; with none
left it would have fallen back to setprofile mode)."""
from __future__ import print_function

import json
import os
import threading
import time

from pyinstrument import Profiler

ABANDONED = 260


def native_threads():
    return len(os.listdir("/proc/self/task"))


def abandon():
    Profiler(use_signal=True).start()  # never stopped
    end = time.time() + 0.002
    while time.time() < end:
        pass


before = native_threads()
for _ in range(ABANDONED):
    thread = threading.Thread(target=abandon)
    thread.start()
    thread.join()
# A sampling thread told to stop finishes within an interval or two.
deadline = time.time() + 5
while native_threads() > before and time.time() < deadline:
    time.sleep(0.01)
print(native_threads() - before)
profiler = Profiler(use_signal=True)
profiler.start()
profiler.stop()
mode = json.loads(profiler.session_json())["mode"]
print("ok" if mode == "signal" else "the last profiler ran in %s mode" % mode)
