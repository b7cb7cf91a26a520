#!/usr/bin/env python3
"""Sampling accuracy on a program whose true time split is known.

bench/workloads/accuracy_target.py busy-waits in a(), b(), c() (50/30/15% of
the time) and sleeps in d() (5%), interleaved over several rounds, ~3 s in
all, and prints the seconds each function actually took (measured inside the
program with time.perf_counter at entry and exit).

Each profiler writes a JSON profile; for every function we sum its inclusive
time (a stack counts once toward every distinct function in it) and divide by
the profile's duration: that is the reported share. The expected share is the
function's actual seconds (printed by the program) over the same duration, so
the error in percentage points is (reported seconds - actual seconds) /
duration * 100 and does not depend on how long interpreter start-up took.

Profilers: ours in signal mode and in setprofile mode (-r json -o FILE), and
pyinstrument 5.1.3 (its own -r json tree schema) for comparison.
Bar (PRODUCT.md): every share within 0.5 percentage points, in every run.
"""

import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402

TARGET = os.path.join(C.WORKLOADS, "accuracy_target.py")
FUNCS = ["a", "b", "c", "d"]
BAR_PP = 0.5


def parse_actual(stdout):
    for line in stdout.splitlines():
        if line.startswith("BENCH_ACCURACY "):
            return json.loads(line[len("BENCH_ACCURACY "):])
    raise RuntimeError("no BENCH_ACCURACY line in output:\n" + stdout)


def is_target_file(path):
    return os.path.basename(path or "") == "accuracy_target.py"


def ours_inclusive(profile):
    """{func: inclusive seconds}, duration from our JSON schema."""
    frames = profile["frames"]
    wanted = {}
    for i, fr in enumerate(frames):
        if fr.get("function") in FUNCS and is_target_file(fr.get("file")):
            wanted[i] = fr["function"]
    totals = dict((f, 0.0) for f in FUNCS)
    for st in profile["stacks"]:
        names = set(wanted[i] for i in st["frames"] if i in wanted)
        for n in names:
            totals[n] += st["time"]
    return totals, float(profile["duration"])


def pyi5_inclusive(profile):
    """Same, from pyinstrument 5's JSON (a tree under "root_frame" whose nodes
    carry inclusive "time")."""
    totals = dict((f, 0.0) for f in FUNCS)

    def visit(node, active):
        name = node.get("function")
        mine = name in FUNCS and is_target_file(node.get("file_path"))
        if mine and name not in active:
            totals[name] += float(node.get("time", 0.0))
            active = active | {name}
        for ch in node.get("children", []):
            visit(ch, active)

    if profile.get("root_frame"):
        visit(profile["root_frame"], frozenset())
    return totals, float(profile["duration"])


def main():
    p = C.base_parser(__doc__.split("\n")[0], runs_default=3)
    p.add_argument("--seconds", type=float, default=3.0,
                   help="total run time of the target program (default: %(default)s)")
    p.add_argument("--rounds", type=int, default=10,
                   help="interleaved rounds of a,b,c,d (default: %(default)s)")
    args = p.parse_args()
    ours = C.check_binary(args.pyinstrument, args.python)
    venv = None if args.no_peer else C.ensure_venv(args.python, need_django=False, need_peer=True)

    tmpdir = tempfile.mkdtemp(prefix="pyi-acc-")
    out = os.path.join(tmpdir, "profile.json")
    targs = [TARGET, str(args.seconds), str(args.rounds)]
    profilers = [
        ("signal", "pyinstrument-rs (signal)", [ours, "-r", "json", "-o", out] + targs,
         C.plain_env(), ours_inclusive),
        ("setprofile", "pyinstrument-rs (setprofile)",
         [ours, "--setprofile", "-r", "json", "-o", out] + targs, C.plain_env(), ours_inclusive),
    ]
    if venv:
        vpy = os.path.join(venv, "bin", "python")
        profilers.append(("pyi5", "pyinstrument 5.1.3",
                          [vpy, "-m", "pyinstrument", "-r", "json", "-o", out] + targs,
                          C.venv_env(venv), pyi5_inclusive))

    results = {}  # key -> list of per-run {func: (reported_share, expected_share)}
    for r in range(args.runs):
        for key, label, cmd, env, parse in profilers:
            if os.path.exists(out):
                os.unlink(out)
            res = C.run_measured(cmd, env=env, timeout=600)
            actual = parse_actual(res.stdout)["actual"]
            with open(out) as f:
                prof = json.load(f)
            totals, duration = parse(prof)
            run = {}
            for fn in FUNCS:
                run[fn] = (totals[fn] / duration * 100.0, actual[fn] / duration * 100.0)
            results.setdefault(key, []).append((run, duration))
            C.log("[accuracy] run %d/%d %-10s duration %.3fs  %s" % (
                r + 1, args.runs, key, duration,
                "  ".join("%s %.2f/%.2f" % (fn, run[fn][0], run[fn][1]) for fn in FUNCS)))
    if os.path.exists(out):
        os.unlink(out)
    os.rmdir(tmpdir)

    print()
    print("Sampling accuracy (python %s, %d runs per profiler, target %.1f s in %d rounds, "
          "nominal shares a 50%% b 30%% c 15%% busy, d 5%% sleep; %s)"
          % (C.python_version(args.python), args.runs, args.seconds, args.rounds,
             C.machine_conditions()))
    print("share = inclusive seconds / profile duration; expected = seconds measured inside "
          "the program / the same duration;")
    print("error = reported - expected, in percentage points (pp). Median over runs; "
          "'worst' = largest |error| in any run.")
    overall = True
    for key, label, cmd, env, parse in profilers:
        runs = results[key]
        rows = []
        worst_all = 0.0
        for fn in FUNCS:
            rep = C.median([run[fn][0] for run, _ in runs])
            exp = C.median([run[fn][1] for run, _ in runs])
            errs = [run[fn][0] - run[fn][1] for run, _ in runs]
            worst = max(errs, key=abs)
            worst_all = max(worst_all, abs(worst))
            rows.append([fn + "()", "%.2f%%" % rep, "%.2f%%" % exp,
                         "%+.2f" % C.median(errs), "%+.2f" % worst])
        ok = worst_all <= BAR_PP
        if key != "pyi5":
            overall = overall and ok
        print()
        print("%s  (median duration %.3f s)  bar |error| <= %.1f pp: %s (worst %.2f pp)"
              % (label, C.median([d for _, d in runs]), BAR_PP, C.verdict(ok), worst_all))
        print(C.fmt_table(["function", "reported", "expected", "error pp", "worst pp"], rows))
    print()
    print("Bar for ours (signal and setprofile, every share, every run): %s" % C.verdict(overall))
    return 0


if __name__ == "__main__":
    sys.exit(main())
