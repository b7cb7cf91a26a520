"""A program that uses SIGALRM itself: setitimer(ITIMER_REAL) ticks and
signal.alarm. Prints buckets, not raw counts, so that its output is the same
on every run."""
from __future__ import print_function

import signal
import sys
import time

# No time.monotonic on Python 2.
clock = getattr(time, "monotonic", time.time)

ticks = [0]
alarms = [0]


def on_tick(signum, frame):
    ticks[0] += 1


def on_alarm(signum, frame):
    alarms[0] += 1


def step(x):
    return (x * 3 + 1) % 1001


def spin_until(deadline):
    n = 0
    while clock() < deadline:
        n = step(n)
    return n


signal.signal(signal.SIGALRM, on_tick)
signal.setitimer(signal.ITIMER_REAL, 0.05, 0.05)
spin_until(clock() + 0.5)
signal.setitimer(signal.ITIMER_REAL, 0, 0)
n = ticks[0]
print("setitimer", "ok" if 7 <= n <= 11 else "BAD: %d ticks in 0.5 s" % n)

# A sleep interrupted by a Python-level SIGALRM handler still sleeps its
# whole time (PEP 475; on Python 2 the
# program sleeps the rest itself), and the handler runs.
ticks[0] = 0
signal.setitimer(signal.ITIMER_REAL, 0.05, 0.05)
start = clock()
if sys.version_info >= (3, 5):
    time.sleep(0.3)
else:
    # Before PEP 475 a signal handler cuts the sleep short: sleep the rest.
    while clock() - start < 0.3:
        time.sleep(max(0.0, 0.3 - (clock() - start)))
slept = clock() - start
signal.setitimer(signal.ITIMER_REAL, 0, 0)
n = ticks[0]
print("sleep-with-itimer", "ok" if slept >= 0.3 and 3 <= n <= 7 else "BAD: slept %.3f, %d ticks" % (slept, n))

signal.signal(signal.SIGALRM, on_alarm)
start = clock()
signal.alarm(1)
while alarms[0] == 0 and clock() - start < 3:
    spin_until(clock() + 0.01)
waited = clock() - start
spin_until(clock() + 0.2)  # no second alarm
print("alarm", "ok" if alarms[0] == 1 and 0.9 <= waited <= 1.6 else "BAD: %d alarms after %.3f s" % (alarms[0], waited))
print("handler is ours", signal.getsignal(signal.SIGALRM) is on_alarm)
