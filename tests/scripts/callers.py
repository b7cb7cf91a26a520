"""Spends its time four calls deep: <module> -> level1 -> level2 -> level3
-> busy, where busy both works itself and calls a helper, so the call tree
branches only at busy. Then it ends as argv[1] says: "return" (normally)
or "raise" (an uncaught exception). The report must show the whole path."""
import sys
import time


def tick():
    return sum(range(300))


def busy(seconds):
    end = time.time() + seconds
    n = 0
    while time.time() < end:
        for _ in range(200):
            n += 1
        tick()
    return n


def level3():
    return busy(0.3)


def level2():
    return level3()


def level1():
    return level2()


level1()
print("work done")
if sys.argv[1] == "raise":
    raise ValueError("the program fails after its work")
