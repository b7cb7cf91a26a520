"""Sampler stress: code-object churn, recursion to the limit, threads with
generators thrown into and closed, and an asyncio gather of many tasks.
Prints only deterministic results. Arguments (churn, recursion, generators,
asyncio) run only those parts.

The churned functions are f0 .. f{CHURN-1}; fN is compiled from the file
name '<churn-N>' with its 'def' on line (N % 37) + 1, so a report can check
that every fN it shows comes with its own file and line."""
from __future__ import print_function

import gc
import sys
import threading
import time

# Python 2 has no asyncio, no `yield from` and no RecursionError.
HAVE_ASYNCIO = sys.version_info >= (3, 5)
if HAVE_ASYNCIO:
    import asyncio
try:
    RecursionError
except NameError:
    RecursionError = RuntimeError

CHURN = 3000


def churn():
    total = 0
    for i in range(CHURN):
        source = "\n" * (i % 37) + (
            "def f%d(x):\n"
            "    s = 0\n"
            "    for k in range(60):\n"
            "        s += (k * x) %% 7\n"
            "    g = lambda y: y + %d\n"
            "    return g(s)\n" % (i, i)
        )
        namespace = {}
        exec(compile(source, "<churn-%d>" % i, "exec"), namespace)
        total += namespace["f%d" % i](i)
        del namespace
        if i % 100 == 99:
            gc.collect()
    return total


def dive(n):
    return dive(n + 1) + 1


def recursion(limit, times):
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(limit)
    caught = 0
    try:
        for _ in range(times):
            try:
                dive(0)
            except RecursionError:
                caught += 1
    finally:
        sys.setrecursionlimit(old)
    return caught


def counter(start):
    n = start
    try:
        while True:
            try:
                yield n
            except ValueError:
                n += 100
                yield -n
            n += 1
    finally:
        pass


if sys.version_info >= (3, 3):
    exec(compile("""
def delegate(start):
    result = yield from counter(start)
    return result
""", __file__, "exec"))
else:
    def delegate(start):
        # What `yield from counter(start)` does, for Python 2.
        inner = counter(start)
        value = next(inner)
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                inner.close()
                raise
            except BaseException:
                try:
                    value = inner.throw(*sys.exc_info())
                except StopIteration:
                    return
            else:
                try:
                    value = inner.send(sent)
                except StopIteration:
                    return


def generator_work(rounds):
    total = 0
    for j in range(rounds):
        g = counter(j)
        total += next(g) + next(g)
        total += g.throw(ValueError("boom"))
        g.close()
        d = delegate(j)
        total += next(d)
        try:
            total += d.throw(ValueError("deep"))
        except StopIteration:
            pass
        d.close()
        g2 = counter(j)
        next(g2)
        try:
            g2.throw(KeyError("out"))
        except KeyError:
            total += 1
    return total


def threads_with_generators(count, rounds):
    results = [None] * count

    def work(k):
        results[k] = generator_work(rounds)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(count)]
    for t in threads:
        t.start()
    mine = generator_work(rounds)  # the sampled thread runs them too
    for t in threads:
        t.join()
    return sum(results) + mine


# `async def` is a syntax error before 3.5: compiled only where asyncio
# exists, under this file's name.
ASYNC_SOURCE = """
async def task_leaf(i):
    await asyncio.sleep(0)
    total = 0
    for k in range(50):
        total += k * i
        if k % 10 == 0:
            await asyncio.sleep(0)
    return total


async def task(i):
    value = await task_leaf(i)
    if i % 7 == 0:
        await asyncio.sleep(0.001)
    return value


async def gather_all(count):
    results = await asyncio.gather(*[task(i) for i in range(count)])
    return sum(results)
"""
if HAVE_ASYNCIO:
    exec(compile(ASYNC_SOURCE, __file__, "exec"))


def run_asyncio(count):
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(gather_all(count))
    finally:
        loop.close()


# Every part must last long enough to be sampled on a busy machine: with
# many more runnable threads than CPUs, the profiled thread and the
# sampling thread both wait tens of milliseconds for a CPU (gaps of 8-76 ms
# between samples were seen on 2 cores at load 7-11), and a part that took
# 2 ms (the recursion on 3.13) could fall between two samples. So each part after the
# churn repeats until it has run MIN_PART_SECONDS; every round returns the
# same result, so the output stays the same from run to run. Python 2 runs
# longer: it does not profile interpreter start-up and shutdown, and in
# setprofile mode its main thread, joining the generator threads, sees few
# events, so a part alone needs more time for the test's 100 samples.
MIN_PART_SECONDS = 0.6 if sys.version_info[0] == 2 else 0.25


def repeated(function, *args):
    start = time.time()
    first = function(*args)
    while time.time() - start < MIN_PART_SECONDS:
        again = function(*args)
        if again != first:
            raise AssertionError("%s%r gave %r, then %r" % (function.__name__, args, first, again))
    return first


PARTS = sys.argv[1:] or ["churn", "recursion", "generators"] + (["asyncio"] if HAVE_ASYNCIO else [])
if "churn" in PARTS:
    print("churn", churn())
if "recursion" in PARTS:
    print("recursion default limit", repeated(recursion, 1000, 3))
    print("recursion deep limit", repeated(recursion, 2600, 2))
if "generators" in PARTS:
    print("generators", repeated(threads_with_generators, 20, 150))
if "asyncio" in PARTS:
    print("asyncio", repeated(run_asyncio, 1000))
print("done")
