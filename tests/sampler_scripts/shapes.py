"""Programs with known call trees; each leaf busy-waits LEAF seconds.

Expected application paths (outermost first, names without qualification):
  <module> > run_nested > outer > middle > inner
  <module> > run_recursion > recurse x5 > recursion_leaf
  <module> > run_methods > Worker.method      (Worker.method on 3.11+)
  <module> > run_methods > Worker.klass       (classmethod)
  <module> > run_generator > producer
  <module> > run_lambda > <lambda> > lambda_leaf
  <module> > run_async > parent_coro > leaf_coro   (not on Python 2)
"""
from __future__ import print_function

import sys
import time

HAVE_ASYNCIO = sys.version_info >= (3, 5)
if HAVE_ASYNCIO:
    import asyncio

LEAF = float(sys.argv[1]) if len(sys.argv) > 1 else 0.2


def inner():
    end = time.time() + LEAF
    while time.time() < end:
        pass


def middle():
    inner()


def outer():
    middle()


def run_nested():
    outer()


def recursion_leaf():
    end = time.time() + LEAF
    while time.time() < end:
        pass


def recurse(n):
    if n == 1:
        recursion_leaf()
    else:
        recurse(n - 1)


def run_recursion():
    recurse(5)


class Worker(object):
    def method(self):
        end = time.time() + LEAF
        while time.time() < end:
            pass

    @classmethod
    def klass(cls):
        end = time.time() + LEAF
        while time.time() < end:
            pass


def run_methods():
    Worker().method()
    Worker.klass()


def producer():
    for _ in range(4):
        end = time.time() + LEAF / 4
        while time.time() < end:
            pass
        yield 1


def run_generator():
    total = 0
    for value in producer():
        total += value
    return total


def lambda_leaf():
    end = time.time() + LEAF
    while time.time() < end:
        pass


def run_lambda():
    f = lambda: lambda_leaf()
    f()


# `async def` is a syntax error before 3.5: compiled only where it exists
# (asyncio does not exist on Python 2), under this file's name.
ASYNC_SOURCE = """
async def leaf_coro():
    end = time.time() + LEAF
    while time.time() < end:
        pass
    return 1


async def parent_coro():
    await asyncio.sleep(0)
    return await leaf_coro()
"""
if HAVE_ASYNCIO:
    exec(compile(ASYNC_SOURCE, __file__, "exec"))


def run_async():
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(parent_coro())
    finally:
        loop.close()


run_nested()
run_recursion()
run_methods()
print(run_generator())
run_lambda()
if HAVE_ASYNCIO:
    print(run_async())
print("done")
