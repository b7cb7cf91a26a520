"""Stress check of signal mode against a program that handles its own
signal: tests/sampler_scripts/usr1_flood.py (a thread floods the main thread
with SIGUSR1 for a second while it computes, sleeps and pauses) run N times
in a row under `pyinstrument` (signal mode), each compared with python's
output. Counts crashes (death by a signal), hangs (no exit within the
timeout) and runs whose output or exit status differ from python's.

    python3 bench/signal_flood.py [--runs 200] [--pyinstrument PATH] [--python PATH]

About 1.1 s per run (200 runs: under 4 minutes). Exits 1 if any run failed.
"""

import os
import subprocess
import sys
import time

from _common import REPO_DIR, base_parser

SCRIPT = os.path.join(REPO_DIR, "tests", "sampler_scripts", "usr1_flood.py")


def run(command, timeout):
    try:
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    return done.returncode, done.stdout, done.stderr


def main():
    parser = base_parser(__doc__.splitlines()[0], runs_default=200)
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="seconds before a run counts as hung (default: %(default)s)")
    parser.add_argument("--setprofile", action="store_true", help="profile in setprofile mode")
    args = parser.parse_args()

    expected = run([args.python, SCRIPT], args.timeout)
    if expected is None or expected[0] != 0:
        sys.exit("plain python fails the script: %r" % (expected,))
    mode = ["--setprofile"] if args.setprofile else []
    crashes = hangs = differences = 0
    started = time.time()
    for i in range(args.runs):
        outcome = run([args.pyinstrument] + mode + ["-o", os.devnull, SCRIPT], args.timeout)
        if outcome is None:
            hangs += 1
            print("run %d: hung (killed after %.0f s)" % (i, args.timeout))
        elif outcome[0] < 0:
            crashes += 1
            print("run %d: killed by signal %d; stderr: %r" % (i, -outcome[0], outcome[2][-400:]))
        elif outcome[:2] != expected[:2]:
            differences += 1
            print("run %d: exit %d, stdout %r (python: %r)" % (i, outcome[0], outcome[1], expected[1]))
    elapsed = time.time() - started
    failed = crashes + hangs + differences
    print("%d runs in %.0f s (%s mode): %d crashes, %d hangs, %d differing outputs"
          % (args.runs, elapsed, "setprofile" if args.setprofile else "signal",
             crashes, hangs, differences))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
