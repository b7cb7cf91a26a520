"""Blocking system calls that a sampling signal could interrupt. Each prints
'<name> ok' when it behaved as in an unprofiled python (no EINTR or
InterruptedError, took its proper time), or '<name> BAD: ...'."""
from __future__ import print_function

import os
import select
import socket
import subprocess
import sys
import threading
import time

try:
    import queue
except ImportError:  # Python 2
    import Queue as queue

# No time.monotonic on Python 2.
clock = getattr(time, "monotonic", time.time)


def check(name, expected, action, slack=2.0):
    start = clock()
    try:
        outcome = action()
    except Exception as e:  # what we are looking for: InterruptedError & co
        print("%s BAD: raised %s: %s" % (name, type(e).__name__, e))
        return
    elapsed = clock() - start
    if outcome is not True:
        print("%s BAD: unexpected outcome %r" % (name, outcome))
    elif elapsed < expected:
        print("%s BAD: took %.4f s, less than %.3f s" % (name, elapsed, expected))
    elif elapsed > expected + slack:
        print("%s BAD: took %.4f s, much more than %.3f s" % (name, elapsed, expected))
    else:
        print("%s ok" % name)
    sys.stdout.flush()


def do_sleep():
    time.sleep(0.3)
    return True


def do_select():
    r, w = os.pipe()
    try:
        return select.select([r], [], [], 0.3) == ([], [], [])
    finally:
        os.close(r)
        os.close(w)


def do_accept():
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        server.settimeout(0.3)
        try:
            server.accept()
        except socket.timeout:
            return True
        return "accepted a connection"
    finally:
        server.close()


def do_recv_timeout():
    a, b = socket.socketpair()
    try:
        a.settimeout(0.3)
        try:
            a.recv(10)
        except socket.timeout:
            return True
        return "received data"
    finally:
        a.close()
        b.close()


def later(seconds, fn):
    t = threading.Thread(target=lambda: (time.sleep(seconds), fn()))
    t.start()
    return t


def do_recv_blocking():
    a, b = socket.socketpair()
    try:
        t = later(0.2, lambda: b.sendall(b"hello"))
        data = a.recv(10)
        t.join()
        return data == b"hello" or data
    finally:
        a.close()
        b.close()


def do_subprocess():
    if not hasattr(subprocess, "run"):  # Python 2
        return subprocess.call(["sleep", "0.2"]) == 0
    return subprocess.run(["sleep", "0.2"]).returncode == 0


def do_check_output():
    return subprocess.check_output(["sh", "-c", "sleep 0.2; echo hi"]) == b"hi\n"


def do_os_read():
    r, w = os.pipe()
    try:
        t = later(0.2, lambda: os.write(w, b"data"))
        data = os.read(r, 100)
        t.join()
        return data == b"data" or data
    finally:
        os.close(r)
        os.close(w)


def do_waitpid():
    pid = os.fork()
    if pid == 0:
        time.sleep(0.2)
        os._exit(7)
    got, status = os.waitpid(pid, 0)
    return (got == pid and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 7) or status


def do_queue_get():
    try:
        queue.Queue().get(timeout=0.3)
    except queue.Empty:
        return True
    return "got an item"


def do_event_wait():
    return threading.Event().wait(0.3) is False


def do_lock_acquire():
    lock = threading.Lock()
    lock.acquire()
    return lock.acquire(timeout=0.3) is False


def do_pipe_write():
    # A blocking write to a pipe that a slow reader drains: python writes it
    # all in one call (a signal may make the kernel return a short count).
    r, w = os.pipe()
    blob = b"x" * (1 << 20)
    received = []

    def reader():
        while True:
            time.sleep(0.005)
            chunk = os.read(r, 65536)
            if not chunk:
                break
            received.append(len(chunk))

    t = threading.Thread(target=reader)
    t.start()
    written = 0
    calls = 0
    while written < len(blob):
        written += os.write(w, blob[written:])
        calls += 1
    os.close(w)
    t.join()
    os.close(r)
    if sum(received) != len(blob):
        return "reader got %d bytes" % sum(received)
    return True


# fork first, while the process has one thread (3.12+ warns about forking
# a multi-threaded process, and a joined thread may still be exiting).
check("waitpid", 0.2, do_waitpid)
check("sleep", 0.3, do_sleep)
check("select", 0.3, do_select)
check("accept", 0.3, do_accept)
check("recv-timeout", 0.3, do_recv_timeout)
check("recv-blocking", 0.2, do_recv_blocking)
check("subprocess-run", 0.2, do_subprocess)
check("check-output", 0.2, do_check_output)
check("os-read", 0.2, do_os_read)
check("queue-get", 0.3, do_queue_get)
check("event-wait", 0.3, do_event_wait)
if sys.version_info >= (3, 2):
    check("lock-acquire", 0.3, do_lock_acquire)
else:
    print("lock-acquire skipped: Lock.acquire has no timeout on Python 2")
check("pipe-write", 0.0, do_pipe_write, slack=5.0)
