"""A function that asks to be left out of tracebacks (pytest's
`__tracebackhide__`), between two that do not. Each busy-waits."""
from __future__ import print_function

import sys
import time

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 0.2


def spin():
    end = time.time() + SECONDS
    while time.time() < end:
        pass


def helper():
    __tracebackhide__ = True
    spin()


def visible():
    helper()


visible()
print("done")
