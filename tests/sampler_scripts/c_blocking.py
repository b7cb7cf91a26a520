"""Blocking calls made from C, where no Python wrapper retries after EINTR.

usage: c_blocking.py signal|setprofile
Through ctypes (which releases the GIL around the call, as C extensions do),
calls usleep, nanosleep, poll, select, epoll_wait and sleep, first in the
main thread, then in a second thread that profiles itself with the
in-process API when it is available (inside pyinstrument), while the main
thread computes. Each call prints '<thread> <name> ok' when it returned 0
after its full time, or '<thread> <name> BAD: ...'.
"""
from __future__ import print_function

import ctypes
import ctypes.util
import os
import sys
import threading
import time

clock = getattr(time, "monotonic", time.time)
libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


class Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class PollFd(ctypes.Structure):
    _fields_ = [("fd", ctypes.c_int), ("events", ctypes.c_short), ("revents", ctypes.c_short)]


class EpollEvent(ctypes.Structure):
    _pack_ = 1  # struct epoll_event is packed on x86-64
    _fields_ = [("events", ctypes.c_uint32), ("data", ctypes.c_uint64)]


def c_usleep():
    return libc.usleep(250000), 0.25


def c_nanosleep():
    request = Timespec(0, 250000000)
    return libc.nanosleep(ctypes.byref(request), None), 0.25


def c_poll():
    r, w = os.pipe()
    try:
        fds = (PollFd * 1)(PollFd(r, 1, 0))  # POLLIN
        return libc.poll(fds, 1, 250), 0.25
    finally:
        os.close(r)
        os.close(w)


def c_select():
    r, w = os.pipe()
    try:
        bits = (ctypes.c_ulong * 16)()  # an fd_set of 1024 bits
        bits[r // 64] |= 1 << (r % 64)
        timeout = Timeval(0, 250000)
        return libc.select(r + 1, bits, None, None, ctypes.byref(timeout)), 0.25
    finally:
        os.close(r)
        os.close(w)


def c_epoll_wait():
    epfd = libc.epoll_create1(0)
    r, w = os.pipe()
    try:
        event = EpollEvent(1, r)  # EPOLLIN
        libc.epoll_ctl(epfd, 1, r, ctypes.byref(event))  # EPOLL_CTL_ADD
        events = (EpollEvent * 4)()
        return libc.epoll_wait(epfd, events, 4, 250), 0.25
    finally:
        os.close(r)
        os.close(w)
        os.close(epfd)


def c_sleep():
    return libc.sleep(1), 1.0


CALLS = [c_usleep, c_nanosleep, c_poll, c_select, c_epoll_wait, c_sleep]


def run_calls(label, lines):
    for call in CALLS:
        ctypes.set_errno(0)
        start = clock()
        rc, expected = call()
        elapsed = clock() - start
        name = call.__name__[2:]
        if rc != 0:
            lines.append("%s %s BAD: returned %d (errno %d) after %.4f s"
                         % (label, name, rc, ctypes.get_errno(), elapsed))
        elif elapsed < expected * 0.98:
            lines.append("%s %s BAD: took %.4f s of %.3f s" % (label, name, elapsed, expected))
        else:
            lines.append("%s %s ok" % (label, name))


def profiled_thread(mode, lines):
    try:
        from pyinstrument import Profiler
    except ImportError:  # plain python: the same calls, unprofiled
        run_calls("thread", lines)
        return
    profiler = Profiler(use_signal=(mode == "signal"))
    profiler.start()
    run_calls("thread", lines)
    profiler.stop()


def main():
    mode = sys.argv[1]
    lines = []
    run_calls("main", lines)
    thread_lines = []
    worker = threading.Thread(target=profiled_thread, args=(mode, thread_lines))
    worker.start()
    n = 0
    while worker.is_alive():  # the main thread keeps the GIL busy meanwhile
        n += 1
    worker.join()
    for line in lines + thread_lines:
        print(line)


main()
