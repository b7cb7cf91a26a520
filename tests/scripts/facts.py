"""Prints facts about how it was started; the first argument picks which.
Run under python and under pyinstrument, the output must be identical.
Python 2 and 3: what a version lacks (__spec__, __loader__ of a script on
2.7, ...) is shown as "n/a". (No `from __future__ import print_function`:
it would show in globals() and sys.modules; every print has one argument.)"""
import os
import sys


def show(label, value):
    sys.stdout.write("%s: %r\n" % (label, value))


group = sys.argv[1] if len(sys.argv) > 1 else "argv"
show("argv", sys.argv)

if group == "argv":
    pass
elif group == "path0":
    show("sys.path[0]", sys.path[0])
    show("cwd", os.getcwd())
elif group == "main":
    show("__name__", __name__)
    show("__package__", __package__)
    show("__spec__", globals().get("__spec__", "n/a"))
    show("__doc__", __doc__[:20])
    show("loader type", type(globals().get("__loader__", "n/a")).__name__)
    show("__builtins__", getattr(__builtins__, "__name__", type(__builtins__).__name__))
    show("main module is this module", sys.modules["__main__"].__dict__ is globals())
elif group == "file":
    show("__file__", __file__)
    show("__cached__", globals().get("__cached__", "<unset>"))
    show("loader name", getattr(globals().get("__loader__"), "name", None))
    show("loader path", getattr(globals().get("__loader__"), "path", None))
elif group == "globals":
    show("globals", sorted(globals()))
elif group == "pickle":
    import pickle

    class Point(object):
        def __init__(self, x, y):
            self.x, self.y = x, y

    data = pickle.dumps(Point(1, 2))
    back = pickle.loads(data)
    show("class module", Point.__module__)
    show("round trip", (type(back).__name__, type(back).__module__, back.x, back.y))
    show("same class", type(back) is Point)
    show("pickle mentions __main__", b"__main__" in data)
elif group == "executable":
    show("sys.executable", sys.executable)
    show("sys.prefix", sys.prefix)
    show("sys.exec_prefix", sys.exec_prefix)
    show("sys.base_prefix", getattr(sys, "base_prefix", None))
    show("sys._base_executable", getattr(sys, "_base_executable", None))
elif group == "sys_path":
    show("sys.path", sys.path)
elif group == "orig_argv":
    show("sys.orig_argv", getattr(sys, "orig_argv", "<not in this version>"))
elif group == "flags":
    show("sys.flags", sys.flags)
    show("sys.warnoptions", sys.warnoptions)
    show("sys._xoptions", getattr(sys, "_xoptions", None))
    show("dont_write_bytecode", sys.dont_write_bytecode)
    show("__debug__", __debug__)
    if os.environ.get("PYTHONHASHSEED"):  # else randomized per run
        show("hash('abc')", hash("abc"))
    try:
        assert False, "assert statements run"
    except AssertionError as exc:
        show("assert", str(exc))
    else:
        show("assert", "skipped")
    import warnings
    # (action, message, category, module, lineno) without the message; a
    # compiled pattern (2.7 compiles even an empty one) as its text, its
    # repr would show an address.
    show("warnings.filters[:2]", [tuple(getattr(x, "pattern", x) for x in f[:1] + f[2:]) for f in warnings.filters[:2]])
    show("sys.path", sys.path)
elif group == "encoding":
    show("stdout", (sys.stdout.encoding, sys.stdout.errors, getattr(sys.stdout, "line_buffering", "n/a")))
    show("stderr", (sys.stderr.encoding, sys.stderr.errors, getattr(sys.stderr, "line_buffering", "n/a")))
    show("stdin", (sys.stdin.encoding, sys.stdin.errors))
    show("filesystem", sys.getfilesystemencoding())
    show("utf8_mode", getattr(sys.flags, "utf8_mode", "n/a"))
    import locale
    show("preferred", locale.getpreferredencoding(False))
    show("LC_CTYPE", os.environ.get("LC_CTYPE"))
    # A unicode string on 2.7 too: printed with the stream's encoding (on
    # 2.7 none for a pipe, so ASCII, unless PYTHONIOENCODING says).
    print(u"non-ascii: h\u00e9llo w\u00f6rld \u2603")
elif group == "modules":
    # What the program can see was imported before it started.
    show("sys.modules", sorted(sys.modules))
elif group == "signals":
    import signal
    names = ["SIGINT", "SIGTERM", "SIGPIPE", "SIGALRM", "SIGCHLD", "SIGHUP", "SIGUSR1"]
    for name in names:
        handler = signal.getsignal(getattr(signal, name))
        show(name, getattr(handler, "__name__", handler))
    show("itimer", signal.getitimer(signal.ITIMER_REAL))
elif group == "stdin":
    data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read()
    show("stdin bytes", data)
    show("stdin isatty", sys.stdin.isatty())
elif group == "environ":
    keep = sorted(k for k in os.environ)
    show("environ keys", keep)
elif group == "source":
    import inspect
    import linecache
    show("getsource", inspect.getsource(show).splitlines()[0])
    show("getfile", inspect.getfile(show) == __file__)
    show("linecache", linecache.getline(__file__, 1).rstrip())
elif group == "warnings":
    import warnings
    warnings.warn("a user warning")
    warnings.warn("a deprecation in __main__", DeprecationWarning)
    warnings.warn_explicit("explicit", RuntimeWarning, "somewhere.py", 12)
    sys.stderr.flush()
    show("done", True)
elif group == "hooks":
    # A profiler is invisible: the program starts without a profile or
    # trace function, in its main thread and in the threads it starts.
    show("sys.getprofile()", sys.getprofile())
    show("sys.gettrace()", sys.gettrace())
    import threading
    seen = []
    thread = threading.Thread(target=lambda: seen.append((sys.getprofile(), sys.gettrace())))
    thread.start()
    thread.join()
    show("in a thread", seen)
    show("threading.getprofile()", getattr(threading, "getprofile", lambda: "n/a")())
    show("threading.gettrace()", getattr(threading, "gettrace", lambda: "n/a")())
else:
    show("unknown group", group)
    sys.exit(99)
