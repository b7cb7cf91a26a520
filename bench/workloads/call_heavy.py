"""Benchmark workload: a call-heavy pure-Python loop (many small function
calls, method calls, a recursion).

usage: call_heavy.py [ITERATIONS]        (default 200000)
       call_heavy.py --seconds S         (loop until S seconds have passed)
Prints "BENCH_WORKLOAD_SECONDS <t>": the time of the loop only.
"""
import sys
import time


def add(a, b):
    return a + b


def square(x):
    return x * x


def clamp(x, lo, hi):
    if x < lo:
        return lo
    if x > hi:
        return hi
    return x


class Vector(object):
    __slots__ = ("x", "y")

    def __init__(self, x, y):
        self.x = x
        self.y = y

    def dot(self, other):
        return add(self.x * other.x, self.y * other.y)

    def scaled(self, k):
        return Vector(self.x * k, self.y * k)

    def norm2(self):
        return self.dot(self)


class Accumulator(object):
    def __init__(self):
        self.total = 0

    def feed(self, value):
        self.total = add(self.total, clamp(value, -1000, 1000))
        return self


def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)


def walk(depth):
    if depth == 0:
        return 1
    return walk(depth - 1) + 1


def one_iteration(i, acc):
    v = Vector(i % 7, i % 11)
    w = v.scaled(2)
    acc.feed(v.dot(w))
    acc.feed(square(i % 13))
    acc.feed(w.norm2())
    acc.feed(fib(6))
    acc.feed(walk(i % 20))


def main():
    acc = Accumulator()
    if len(sys.argv) > 2 and sys.argv[1] == "--seconds":
        limit = float(sys.argv[2])
        t0 = time.perf_counter()
        i = 0
        while True:
            for _ in range(1000):
                one_iteration(i, acc)
                i += 1
            if time.perf_counter() - t0 >= limit:
                break
    else:
        n = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
        t0 = time.perf_counter()
        for i in range(n):
            one_iteration(i, acc)
    elapsed = time.perf_counter() - t0
    print("total %d" % acc.total)
    print("BENCH_WORKLOAD_SECONDS %.6f" % elapsed)


if __name__ == "__main__":
    main()
