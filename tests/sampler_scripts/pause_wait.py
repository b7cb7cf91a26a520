"""signal.pause() and signal.sigwait() wait for the program's own signals.

A helper thread sends SIGUSR1 to the process 0.1 s after the main thread
calls signal.pause(), five times; then SIGUSR2, blocked in the main thread,
which waits for it with signal.sigwait() (Python 3.3+). Prints one line per
wait: 'pause N ok', or 'pause N BAD: ...' if it returned early or the
handler had not run.
"""
from __future__ import print_function

import os
import signal
import sys
import threading
import time

clock = getattr(time, "monotonic", time.time)
received = []


def on_usr1(signum, frame):
    received.append(signum)


def send_later(signum, delay):
    time.sleep(delay)
    os.kill(os.getpid(), signum)


signal.signal(signal.SIGUSR1, on_usr1)
for i in range(5):
    before = len(received)
    sender = threading.Thread(target=send_later, args=(signal.SIGUSR1, 0.1))
    start = clock()
    sender.start()
    signal.pause()
    elapsed = clock() - start
    sender.join()
    if len(received) == before:
        print("pause %d BAD: returned after %.4f s without the program's signal" % (i, elapsed))
    elif elapsed < 0.09:
        print("pause %d BAD: returned after %.4f s" % (i, elapsed))
    else:
        print("pause %d ok" % i)

if hasattr(signal, "sigwait"):
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR2])
    for i in range(3):
        sender = threading.Thread(target=send_later, args=(signal.SIGUSR2, 0.1))
        start = clock()
        sender.start()
        got = signal.sigwait([signal.SIGUSR2])
        elapsed = clock() - start
        sender.join()
        if got != signal.SIGUSR2 or elapsed < 0.09:
            print("sigwait %d BAD: got %r after %.4f s" % (i, got, elapsed))
        else:
            print("sigwait %d ok" % i)
else:
    print("sigwait: not in this Python")
sys.stdout.flush()
