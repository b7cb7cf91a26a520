"""Ends in different ways; argv[1] says how. (Python 2 and 3; the explicitly
chained exception, Python 3 syntax only, is in exits_chain.py.)"""
from __future__ import print_function

import atexit
import os
import sys

mode = sys.argv[1]
print("started", mode)


def inner(n):
    if n == 0:
        raise ValueError("bad value \u00e9")
    return inner(n - 1)


if mode == "exit3":
    sys.exit(3)
elif mode == "exit_msg":
    sys.exit("fatal: something went wrong")
elif mode == "exit_none":
    sys.exit(None)
elif mode == "exit_big":
    sys.exit(256 + 5)
elif mode == "exit_object":
    sys.exit(["not", "an", "int"])
elif mode == "raise":
    inner(3)
elif mode == "implicit_chain":
    try:
        inner(1)
    except ValueError:
        {}["missing key"]
elif mode == "os_exit":
    sys.stdout.flush()
    os._exit(7)
elif mode == "atexit_systemexit":
    def handler():
        print("atexit handler runs")
        raise SystemExit(5)
    atexit.register(handler)
elif mode == "atexit_exception":
    def handler():
        print("atexit handler runs")
        raise KeyError("from atexit")
    atexit.register(handler)
elif mode == "keyboard_interrupt":
    raise KeyboardInterrupt
elif mode == "recursion":
    def down(n):
        return down(n + 1)
    down(0)
elif mode == "exception_in_del_at_exit":
    class Bad(object):
        def __del__(self):
            raise ValueError("in __del__")
    keep = Bad()
    print("done")
else:
    sys.exit("unknown mode %r" % mode)
print("end of", mode)
