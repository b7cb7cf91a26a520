"""atexit handlers, __del__ finalizers, weakref.finalize and non-daemon
threads must all run, in the same order, as under python. (Python 2 and 3;
2.7 has no weakref.finalize: a weakref callback stands in for it there.)"""
from __future__ import print_function

import atexit
import sys
import threading
import time
import weakref


class Noisy(object):
    def __init__(self, name):
        self.name = name

    def __del__(self):
        print("__del__", self.name)


def at_exit(label):
    print("atexit", label)
    sys.stdout.flush()


atexit.register(at_exit, "first registered")
atexit.register(at_exit, "second registered")

temporary = Noisy("temporary")
del temporary  # collected right away

kept = Noisy("module global")  # collected at interpreter shutdown

if hasattr(weakref, "finalize"):
    target = Noisy("finalize target")
    weakref.finalize(target, print, "weakref.finalize callback")
    del target

    survivor = Noisy("finalize survivor")
    weakref.finalize(survivor, print, "weakref.finalize at exit")
else:
    target = Noisy("weakref target")
    target_ref = weakref.ref(target, lambda ref: print("weakref callback"))
    del target

    survivor = Noisy("weakref survivor")
    survivor_ref = weakref.ref(survivor, lambda ref: print("weakref callback at exit"))


def worker():
    time.sleep(0.2)
    print("non-daemon thread finished")
    sys.stdout.flush()


def daemon():
    while True:
        time.sleep(0.05)


threading.Thread(target=worker).start()
daemon_thread = threading.Thread(target=daemon)
daemon_thread.daemon = True  # Thread(daemon=True) is 3.3+
daemon_thread.start()
print("main body done")
