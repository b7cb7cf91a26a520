"""Accuracy workload: a program whose true time split is known.

a(), b() and c() busy-wait (spinning on time.perf_counter, pure Python) for
50%, 30% and 15% of the time, d() sleeps for 5% (time.sleep), in ROUNDS
interleaved rounds; the total is about TOTAL seconds.

usage: accuracy_target.py [TOTAL [ROUNDS]]   (default 3.0 s, 10 rounds)

Each function measures its own elapsed time (entry to exit) and the program
prints one line, "BENCH_ACCURACY {json}", with the actual seconds spent in
a, b, c, d and in the whole loop, plus the nominal shares.
"""
import json
import sys
import time

SHARES = {"a": 0.50, "b": 0.30, "c": 0.15, "d": 0.05}
ACTUAL = {"a": 0.0, "b": 0.0, "c": 0.0, "d": 0.0}


def spin(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def a(seconds):
    t0 = time.perf_counter()
    spin(seconds)
    ACTUAL["a"] += time.perf_counter() - t0


def b(seconds):
    t0 = time.perf_counter()
    end = t0 + seconds
    while time.perf_counter() < end:
        pass
    ACTUAL["b"] += time.perf_counter() - t0


def c(seconds):
    t0 = time.perf_counter()
    end = t0 + seconds
    while time.perf_counter() < end:
        pass
    ACTUAL["c"] += time.perf_counter() - t0


def d(seconds):
    t0 = time.perf_counter()
    time.sleep(seconds)
    ACTUAL["d"] += time.perf_counter() - t0


def main():
    total = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    per_round = total / rounds
    t0 = time.perf_counter()
    for _ in range(rounds):
        a(per_round * SHARES["a"])
        b(per_round * SHARES["b"])
        c(per_round * SHARES["c"])
        d(per_round * SHARES["d"])
    loop = time.perf_counter() - t0
    print("BENCH_ACCURACY " + json.dumps({"actual": ACTUAL, "loop": loop, "nominal": SHARES}))
    print("BENCH_WORKLOAD_SECONDS %.6f" % loop)


if __name__ == "__main__":
    main()
