"""multiprocessing with each start method: spawn and forkserver children
re-import __main__ from its __file__ with sys.executable."""
import multiprocessing
import sys


def square(x):
    return x * x


if __name__ == "__main__":
    for method in ["fork", "spawn", "forkserver"]:
        ctx = multiprocessing.get_context(method)
        pool = ctx.Pool(2)
        try:
            print(method, pool.map(square, range(5)))
        finally:
            pool.close()
            pool.join()
    sys.stdout.flush()
