"""atexit handlers, __del__ finalizers, weakref.finalize and non-daemon
threads must all run, in the same order, as under python."""
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

target = Noisy("finalize target")
weakref.finalize(target, print, "weakref.finalize callback")
del target

survivor = Noisy("finalize survivor")
weakref.finalize(survivor, print, "weakref.finalize at exit")


def worker():
    time.sleep(0.2)
    print("non-daemon thread finished")
    sys.stdout.flush()


def daemon():
    while True:
        time.sleep(0.05)


threading.Thread(target=worker).start()
threading.Thread(target=daemon, daemon=True).start()
print("main body done")
