"""What a program can see of its signal environment; must print the same
under pyinstrument as under python (both modes, every version)."""
from __future__ import print_function

import ctypes
import ctypes.util
import signal
import sys
import threading


class StackT(ctypes.Structure):
    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t)]


libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
current = StackT()
libc.sigaltstack(None, ctypes.byref(current))
SS_DISABLE = 2
print("alternate signal stack:", "none" if current.ss_flags & SS_DISABLE else "%d bytes" % current.ss_size)

names = sorted((n, getattr(signal, n)) for n in dir(signal)
               if n.startswith("SIG") and not n.startswith("SIG_") and isinstance(getattr(signal, n), int))
for name, number in names:
    if number >= getattr(signal, "NSIG", 65):
        continue
    try:
        handler = signal.getsignal(number)
    except (ValueError, OSError):
        continue
    if handler == signal.SIG_DFL:
        shown = "SIG_DFL"
    elif handler == signal.SIG_IGN:
        shown = "SIG_IGN"
    elif handler is None:
        shown = "a handler not installed from Python"
    else:
        shown = getattr(handler, "__name__", repr(handler))
    print("signal", name, shown)

if hasattr(signal, "pthread_sigmask"):
    print("blocked signals:", sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, [])))
for timer in ("ITIMER_REAL", "ITIMER_VIRTUAL", "ITIMER_PROF"):
    if hasattr(signal, timer):
        print(timer, signal.getitimer(getattr(signal, timer)))
print("alarm:", signal.alarm(0))
print("threads:", [t.name for t in threading.enumerate()], threading.active_count())
print("profile:", sys.getprofile(), "trace:", sys.gettrace())
