#!/usr/bin/env python3
"""Start-up cost: `pyinstrument empty.py` vs `python empty.py`.

Paired runs, alternating (python, ours, [pyinstrument 5.1.3]) in each round;
reports the median wall time of each and the median of the per-pair
differences (the added milliseconds). Two bases: the bare python (its
site-packages may hold .pth files that import things at start-up; ours
processes them too) and python inside the bench virtualenv (no such .pth
files), against which ours with that venv active and pyinstrument 5.1.3 are
compared. Ours writes its (empty) text report to
stdout, which goes to a pipe that is read and discarded, as with python.

Bar (PRODUCT.md): ours adds at most 10 ms.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402

BAR_MS = 10.0


def main():
    p = C.base_parser(__doc__.split("\n")[0], runs_default=30)
    p.add_argument("--setprofile", action="store_true",
                   help="also time ours with --setprofile")
    args = p.parse_args()
    ours = C.check_binary(args.pyinstrument, args.python)
    venv = None if args.no_peer else C.ensure_venv(args.python, need_django=False, need_peer=True)
    empty = os.path.join(C.WORKLOADS, "empty.py")
    if not os.path.exists(empty):
        open(empty, "w").close()

    variants = [
        ("python", "python empty.py", [args.python, empty], C.plain_env()),
        ("ours", "pyinstrument-rs empty.py", [ours, empty], C.plain_env()),
    ]
    if args.setprofile:
        variants.append(("ours-sp", "pyinstrument-rs --setprofile empty.py",
                         [ours, "--setprofile", empty], C.plain_env()))
    if venv:
        vpy = os.path.join(venv, "bin", "python")
        # Its own base: the venv's python (same interpreter, venv site-packages).
        variants.append(("venv-python", "venv python empty.py", [vpy, empty], C.venv_env(venv)))
        variants.append(("ours-venv", "pyinstrument-rs empty.py (venv active)",
                         [ours, empty], C.venv_env(venv)))
        variants.append(("pyi5", "pyinstrument 5.1.3 empty.py",
                         [vpy, "-m", "pyinstrument", empty], C.venv_env(venv)))
    bases = {"ours": "python", "ours-sp": "python", "ours-venv": "venv-python",
             "pyi5": "venv-python"}

    # Warm-up (page cache, .pyc files), untimed.
    for _, _, cmd, env in variants:
        C.run_measured(cmd, env=env, timeout=60)

    times = {}
    for r in range(args.runs):
        # Alternate the order each round so neither side always goes first.
        order = variants if r % 2 == 0 else list(reversed(variants))
        for key, _, cmd, env in order:
            times.setdefault(key, []).append(C.run_measured(cmd, env=env, timeout=60).wall * 1000)

    rows = []
    ok = None
    for key, label, _, _ in variants:
        med = C.median(times[key])
        if key in bases:
            diffs = [x - y for x, y in zip(times[key], times[bases[key]])]
            added = C.median(diffs)
            bar = "-"
            if key in ("ours", "ours-sp", "ours-venv"):
                good = added <= BAR_MS
                ok = good if ok is None else (ok and good)
                bar = C.verdict(good)
            rows.append([label, "%.1f" % med, "%.1f" % min(times[key]), "%+.1f" % added,
                         "vs " + bases[key], bar])
        else:
            rows.append([label, "%.1f" % med, "%.1f" % min(times[key]), "-", "", ""])
    print()
    print("Start-up (python %s, %d paired rounds, wall time of the whole process; %s)"
          % (C.python_version(args.python), args.runs, C.machine_conditions()))
    print(C.fmt_table(["command", "median ms", "min ms", "added ms (median of pairs)", "base",
                       "bar <= %g ms" % BAR_MS], rows,
                      aligns=["<", ">", ">", ">", "<", "<"]))
    print()
    print("Bar for ours (adds at most %g ms): %s" % (BAR_MS, C.verdict(ok)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
