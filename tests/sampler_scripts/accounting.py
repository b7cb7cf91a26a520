"""Busy work in small function calls, then a short sleep."""
import sys
import time

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 0.5


def step(x):
    return x * 2 + 1


def busy():
    end = time.time() + SECONDS
    n = 0
    while time.time() < end:
        n = step(n) % 1000
    return n


busy()
time.sleep(0.1)
print("done")
