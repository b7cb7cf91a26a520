"""Benchmark workload: a call-heavy pure-Python loop: many small function
calls, method calls, object creation, a recursion (fib), a little string and
dict work per call.

usage: call_heavy.py [ITERATIONS]        (default 100000)
       call_heavy.py --seconds S         (loop until S seconds have passed)
Prints "BENCH_WORKLOAD_SECONDS <t>": the wall time of the loop only, and
"BENCH_WORKLOAD_CPU_SECONDS <t>": the process CPU time of that loop.
"""
import sys
import time


def add(a, b):
    return a + b


def fmt_key(i):
    return "key-%d" % (i % 97)


def clamp(x, lo, hi):
    return lo if x < lo else hi if x > hi else x


class Vector(object):
    __slots__ = ("x", "y")

    def __init__(self, x, y):
        self.x = x
        self.y = y

    def dot(self, other):
        return add(self.x * other.x, self.y * other.y)

    def scaled(self, k):
        return Vector(self.x * k, self.y * k)


class Accumulator(object):
    def __init__(self):
        self.total = 0
        self.counts = {}

    def feed(self, key, value):
        self.counts[key] = self.counts.get(key, 0) + 1
        self.total = add(self.total, clamp(value, -1000, 1000))


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def tokens(i):
    s = "alpha beta gamma delta %d" % i
    return [w.upper() for w in s.split() if len(w) > 3]


def one_iteration(i, acc):
    v = Vector(i % 7, i % 11)
    w = v.scaled(2)
    acc.feed(fmt_key(i), v.dot(w))
    acc.feed(fmt_key(i + 1), fib(i % 8))
    acc.feed("tokens", len(tokens(i)))
    acc.feed("sorted", sorted([i % 5, i % 3, i % 7, i % 11])[0])


def main():
    acc = Accumulator()
    i = 0
    if len(sys.argv) > 2 and sys.argv[1] == "--seconds":
        limit = float(sys.argv[2])
        t0 = time.perf_counter()
        c0 = time.process_time()
        while True:
            for _ in range(1000):
                one_iteration(i, acc)
                i += 1
            if time.perf_counter() - t0 >= limit:
                break
    else:
        n = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
        t0 = time.perf_counter()
        c0 = time.process_time()
        for i in range(n):
            one_iteration(i, acc)
        i = n
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - c0
    print("total %d, %d iterations" % (acc.total, i))
    print("BENCH_WORKLOAD_SECONDS %.6f" % elapsed)
    print("BENCH_WORKLOAD_CPU_SECONDS %.6f" % cpu)


if __name__ == "__main__":
    main()
