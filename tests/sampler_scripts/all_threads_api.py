"""Profiler(all_threads=True) from the API, in the mode given (`signal`,
or `setprofile`: use_signal=False). Prints, as JSON, what the profiled
threads saw of profile functions, and each thread's wall time in the
session."""
import json
import sys
import threading
import time

from pyinstrument import Profiler

thread_time = getattr(time, "thread_time", None) or getattr(time, "process_time", None) or time.clock


def spin(seconds):
    end = thread_time() + seconds
    while thread_time() < end:
        pass


seen = {"getprofile": {}}


def worker():
    seen["getprofile"]["worker"] = repr(sys.getprofile())
    if hasattr(threading, "getprofile"):
        seen["threading_getprofile"] = repr(threading.getprofile())
    spin(0.05)


released = threading.Event()


def early():
    released.wait()
    spin(0.05)


before = threading.Thread(target=early, name="early")
before.start()
time.sleep(0.05)
profiler = Profiler(all_threads=True, use_signal=sys.argv[1] == "signal")
profiler.start()
seen["getprofile"]["main"] = repr(sys.getprofile())
thread = threading.Thread(target=worker, name="worker")
thread.start()
thread.join()


def own_profiler():
    # The program's own profile function, in this thread only: pyinstrument
    # stops sampling it (and says so).
    sys.setprofile(lambda frame, event, arg: None)
    spin(0.02)


replacer = threading.Thread(target=own_profiler, name="replacer")
replacer.start()
replacer.join()
time.sleep(0.1)
released.set()
before.join()
profiler.stop()
seen["getprofile"]["after"] = repr(sys.getprofile())
session = json.loads(profiler.last_session.to_json())
frames = session["frames"]
threads = {}
for info in session["threads"]:
    threads[info["name"]] = info["wall_time"]
seen["threads"] = threads
seen["duration"] = session["duration"]
seen["mode"] = session["mode"]
seen["notes"] = session["notes"]
print(json.dumps(seen))
