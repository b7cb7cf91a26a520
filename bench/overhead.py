#!/usr/bin/env python3
"""Profiling overhead: unprofiled vs profiled runs of two workloads.

Workloads (bench/workloads/):
  django  django_render.py N   Django template render loop (base template with
                               blocks, child extending it: loops, filters,
                               include, if), rendered N times
  calls   call_heavy.py N      call-heavy pure-Python loop (small functions,
                               methods, recursion)
  threads threads_mixed.py N   8 threads: 4 run the call-heavy loop (N
                               iterations between them), 4 are blocked (socket,
                               Event) until they finish; for --all-threads

Variants, interleaved round by round (one run of each per round, so drifting
machine load hits all variants alike):
  base                         venv python workload.py
  pyinstrument-rs (signal)     ours, default mode (1 ms SIGPROF sampling)
  empty ticks (floor)          venv python workload.py with bench/floor/empty_ticks.c
                               preloaded: the same 1 ms SIGPROF timer with a handler
                               that does nothing: what the kernel (and hypervisor)
                               charge for the signal alone, under any handler
  pyinstrument-rs (all threads) ours --all-threads (signal mode, every thread)
  pyinstrument-rs (setprofile) ours --setprofile
  cProfile                     python -m cProfile -o FILE
  pyinstrument 5.1.3           venv python -m pyinstrument -o FILE
  profile                      python -m profile -o FILE, on one workload only
                               and at a reduced size (it is 20-100x slower),
                               paired with a base run at the same size

Every workload prints the in-script time of its measured loop (interpreter
start-up, imports and report rendering excluded). The ratios and the bars use
that in-script wall time (median over runs / median of base). Also printed,
for reference: the in-script CPU time (time.process_time of the loop, which
includes the profiler's own work in the process but hardly moves when other
processes compete for the CPU) and the whole-process wall time measured here.

Bars (PRODUCT.md "Targets"):
  signal <= 1.02x on every workload
  setprofile < cProfile on every workload
  setprofile overhead <= half of pyinstrument 5.1.3's overhead (goal)
"""

import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402

WORKLOADS = [
    # key, title, script, default size
    ("django", "Django template render", "django_render.py", 2000),
    ("calls", "call-heavy loop", "call_heavy.py", 100000),
    ("threads", "8 threads, 4 blocked", "threads_mixed.py", 40000),
]

VARIANTS = [
    ("base", "base (no profiler)"),
    ("signal", "pyinstrument-rs (signal)"),
    ("floor", "empty SIGPROF ticks (floor)"),
    ("allthreads", "pyinstrument-rs (all threads)"),
    ("setprofile", "pyinstrument-rs (setprofile)"),
    ("allthreads-setprofile", "pyinstrument-rs (setprofile, all threads)"),
    ("cprofile", "cProfile"),
    ("pyi5", "pyinstrument 5.1.3"),
    ("profile", "profile"),
]


# The compiled bench/floor/empty_ticks.c, once built (see build_floor).
FLOOR_LIBRARY = [None]


def build_floor(tmpdir):
    """Compiles the empty-ticks library with the machine's C compiler;
    returns False (and says why) if it cannot."""
    source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "floor", "empty_ticks.c")
    target = os.path.join(tmpdir, "empty_ticks.so")
    try:
        subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", target, source],
                       check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    except (OSError, subprocess.CalledProcessError) as e:
        C.log("[overhead] no floor variant: cannot compile %s (%s)" % (source, e))
        return False
    FLOOR_LIBRARY[0] = target
    return True


def commands(variant, script, size, ours, venv, outfile):
    vpy = os.path.join(venv, "bin", "python")
    args = [script, str(size)]
    if variant == "base" or variant == "base-small":
        return [vpy] + args
    if variant == "signal":
        return [ours, "-o", outfile] + args
    if variant == "allthreads":
        return [ours, "--all-threads", "-o", outfile] + args
    if variant == "floor":
        return ["env", "LD_PRELOAD=" + FLOOR_LIBRARY[0], vpy] + args
    if variant == "setprofile":
        return [ours, "--setprofile", "-o", outfile] + args
    if variant == "allthreads-setprofile":
        return [ours, "--all-threads", "--setprofile", "-o", outfile] + args
    if variant == "cprofile":
        return [vpy, "-m", "cProfile", "-o", outfile] + args
    if variant == "pyi5":
        return [vpy, "-m", "pyinstrument", "-o", outfile] + args
    if variant == "profile":
        return [vpy, "-m", "profile", "-o", outfile] + args
    raise ValueError(variant)


def main():
    p = C.base_parser(__doc__.split("\n")[0], runs_default=5)
    p.add_argument("--workloads", default="django,calls",
                   help="comma-separated subset of: django,calls,threads (default: %(default)s)")
    p.add_argument("--scale", type=float, default=1.0,
                   help="multiply every workload size (default 1: django N=2000, "
                        "calls N=100000)")
    p.add_argument("--profile-workload", default="django", choices=["django", "calls", "none"],
                   help="the workload the pure-Python `profile` runs on (default: %(default)s)")
    p.add_argument("--profile-scale", type=float, default=0.1,
                   help="size of the `profile` runs relative to the others (default: "
                        "%(default)s); they are paired with base runs of the same size")
    p.add_argument("--sizes", default="",
                   help="override sizes, e.g. django=4000,calls=100000")
    p.add_argument("--variants", default="",
                   help="comma-separated subset of: %s (default: all; base is always run)"
                        % ",".join(v for v, _ in VARIANTS if v != "base"))
    args = p.parse_args()
    ours = C.check_binary(args.pyinstrument, args.python)
    venv = C.ensure_venv(args.python, need_django=True, need_peer=not args.no_peer)
    env_venv = C.venv_env(venv)

    wanted = [w.strip() for w in args.workloads.split(",") if w.strip()]
    overrides = dict(kv.split("=") for kv in args.sizes.split(",") if kv)
    workloads = []
    for key, title, script, size in WORKLOADS:
        if key in wanted:
            n = int(overrides.get(key, max(1, int(size * args.scale))))
            workloads.append((key, title, os.path.join(C.WORKLOADS, script), n))
    if not workloads:
        sys.exit("no workload selected")

    variants = [v for v, _ in VARIANTS if not (args.no_peer and v == "pyi5")]
    if args.variants:
        chosen = set(v.strip() for v in args.variants.split(",")) | {"base"}
        variants = [v for v in variants if v in chosen]
    tmpdir = tempfile.mkdtemp(prefix="pyi-bench-")
    if "floor" in variants and not build_floor(tmpdir):
        variants.remove("floor")
    # NB: never `-o /dev/null` for ours: it writes the report atomically
    # (temp file + rename), so the report goes to a temp file instead.
    outfile = os.path.join(tmpdir, "profile.out")

    inscript = {}  # (workload, variant) -> [seconds]
    cpu = {}
    wall = {}
    C.log("[overhead] python=%s ours=%s venv=%s runs=%d" % (args.python, ours, venv, args.runs))
    C.log("[overhead] conditions at start: %s" % C.machine_conditions())
    # One untimed warm-up per workload (page cache, .pyc files).
    for key, title, script, n in workloads:
        C.run_measured(commands("base", script, max(1, n // 20), ours, venv, outfile), env=env_venv)

    t_start = time.time()
    for r in range(args.runs):
        for key, title, script, n in workloads:
            plan = list(variants)
            for v in plan:
                size = n
                if v == "profile":
                    if key != args.profile_workload:
                        continue
                    size = max(1, int(n * args.profile_scale))
                    # A base run of the same size right before, for the pair.
                    res = C.run_measured(commands("base", script, size, ours, venv, outfile),
                                         env=env_venv, timeout=3600)
                    inscript.setdefault((key, "base-small"), []).append(res.inscript)
                    cpu.setdefault((key, "base-small"), []).append(res.inscript_cpu)
                    wall.setdefault((key, "base-small"), []).append(res.wall)
                res = C.run_measured(commands(v, script, size, ours, venv, outfile),
                                     env=env_venv, timeout=3600)
                if res.inscript is None:
                    raise RuntimeError("no %s line from %s/%s:\n%s" % (C.MARKER, key, v, res.stdout))
                inscript.setdefault((key, v), []).append(res.inscript)
                cpu.setdefault((key, v), []).append(res.inscript_cpu)
                wall.setdefault((key, v), []).append(res.wall)
                C.log("[overhead] round %d/%d %-6s %-10s in-script %.3fs cpu %.3fs wall %.3fs"
                      % (r + 1, args.runs, key, v if v != "profile" else "profile(N=%d)" % size,
                         res.inscript, res.inscript_cpu, res.wall))
    elapsed = time.time() - t_start
    for leftover in (outfile, FLOOR_LIBRARY[0]):
        try:
            os.unlink(leftover)
        except (OSError, TypeError):
            pass
    os.rmdir(tmpdir)

    def ratio(key, v, data):
        if v == "profile":
            num, den = data.get((key, "profile")), data.get((key, "base-small"))
        else:
            num, den = data.get((key, v)), data.get((key, "base"))
        if not num or not den:
            return None
        return C.median(num) / C.median(den)

    def table(data, what):
        headers = ["variant"]
        for key, title, script, n in workloads:
            headers += ["%s N=%d: median s" % (key, n), "ratio"]
        rows = []
        for v, label in VARIANTS:
            if v not in variants:
                continue
            row = [label]
            for key, title, script, n in workloads:
                xs = data.get((key, v))
                if not xs:
                    row += ["-", "-"]
                    continue
                med = C.median(xs)
                rt = ratio(key, v, data)
                note = ""
                if v == "profile":
                    note = " (N=%d)" % int(max(1, n * args.profile_scale))
                row += ["%.3f%s" % (med, note), "%.3f\u00d7" % rt if rt else "-"]
            rows.append(row)
        return "%s\n%s" % (what, C.fmt_table(headers, rows))

    def paired_table():
        """Median over rounds of (variant / base of the same round): drift of
        the machine's speed from round to round cancels out."""
        headers = ["variant"] + ["%s: paired median ratio" % key for key, _, _, _ in workloads]
        rows = []
        for v, label in VARIANTS:
            if v not in variants or v in ("base", "profile"):
                continue
            row = [label]
            for key, title, script, n in workloads:
                xs, bases = inscript.get((key, v)), inscript.get((key, "base"))
                if not xs or not bases or len(xs) != len(bases):
                    row.append("-")
                    continue
                row.append("%.3f\u00d7" % C.median([x / b for x, b in zip(xs, bases)]))
            rows.append(row)
        return "%s\n%s" % ("In-script time, paired by round (variant / base of the same round; "
                            "for reference):", C.fmt_table(headers, rows))

    print()
    print("Profiling overhead (python %s, %d runs per variant, interleaved; %s; took %.0f s)"
          % (C.python_version(args.python), args.runs, C.machine_conditions(), elapsed))
    print()
    print(table(inscript, "In-script time of the workload loop (THE RATIOS THAT COUNT):"))
    print()
    print(paired_table())
    print()
    print(table(cpu, "In-script CPU time of the workload loop (time.process_time; "
                     "much less disturbed by other load; for reference):"))
    print()
    print(table(wall, "Whole-process wall time measured by the driver (incl. start-up, "
                      "imports, report writing; for reference):"))
    if ("%s" % args.profile_workload) in [w[0] for w in workloads]:
        print("\n`profile` ran at N x %.2g and its ratio is against base runs of that same size."
              % args.profile_scale)

    # Bars.
    all_ok = True
    complete = True
    for data, what, counts in ((inscript, "in-script wall time medians: THE VERDICT", True),
                               (cpu, "in-script CPU time medians: for reference", False)):
        print()
        print("Bars (%s):" % what)
        for key, title, script, n in workloads:
            sig = ratio(key, "signal", data)
            floor = ratio(key, "floor", data)
            sp = ratio(key, "setprofile", data)
            cp = ratio(key, "cprofile", data)
            p5 = ratio(key, "pyi5", data)
            b1 = sig is None or sig <= 1.02
            b2 = sp is None or cp is None or sp < cp
            if sig is not None:
                print("  %-7s signal <= 1.02x:                      %s  (%.3f\u00d7)"
                      % (key, C.verdict(b1), sig))
            if floor is not None:
                print("  %-7s   of which the signal alone (floor):       %.3f\u00d7; "
                      "our handler adds %+.1f%%"
                      % (key, floor, (sig - floor) * 100 if sig is not None else float("nan")))
            if sp is not None and cp is not None:
                print("  %-7s setprofile < cProfile:                %s  (%.3f\u00d7 vs %.3f\u00d7)"
                      % (key, C.verdict(b2), sp, cp))
            if p5 is not None and sp is not None:
                b3 = (sp - 1) <= 0.5 * (p5 - 1)
                print("  %-7s setprofile <= 1/2 pyinstrument 5.1.3 overhead (goal): %s  "
                      "(+%.1f%% vs +%.1f%%, limit +%.1f%%)"
                      % (key, C.verdict(b3), (sp - 1) * 100, (p5 - 1) * 100, (p5 - 1) * 50))
            if counts:
                all_ok = all_ok and b1 and b2
                complete = complete and None not in (sig, sp, cp)
    print("\nRequired bars on in-script wall time (signal <= 1.02x, setprofile < cProfile): %s"
          % (C.verdict(all_ok) if complete else
             "NOT JUDGED (a variant they need was not run)" if all_ok else C.verdict(False)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
