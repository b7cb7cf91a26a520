"""multiprocessing with each start method: spawn and forkserver children
re-import __main__ from its __file__ with sys.executable. (Python 2.7 has
no start methods, only fork: multiprocessing.Pool.)"""
from __future__ import print_function

import multiprocessing
import sys


def square(x):
    return x * x


if __name__ == "__main__":
    if hasattr(multiprocessing, "get_context"):
        methods = ["fork", "spawn", "forkserver"]
    else:
        methods = ["fork (2.7)"]
    for method in methods:
        if hasattr(multiprocessing, "get_context"):
            pool = multiprocessing.get_context(method).Pool(2)
        else:
            pool = multiprocessing.Pool(2)
        try:
            print(method, pool.map(square, range(5)))
        finally:
            pool.close()
            pool.join()
    sys.stdout.flush()
