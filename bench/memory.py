#!/usr/bin/env python3
"""Peak memory: a call-heavy run of N seconds, unprofiled and profiled.

Runs bench/workloads/call_heavy.py --seconds N (default 60) under
  python alone, pyinstrument-rs (signal), pyinstrument-rs (setprofile),
  pyinstrument 5.1.3 (venv python -m pyinstrument)
and reports each child's peak RSS (ru_maxrss from os.wait4, the same number
/usr/bin/time -v prints as "Maximum resident set size"), and what each
profiler adds over python alone, in MiB. Every profiler renders its default
text report to a file, so the peak includes building the report.

Bar (PRODUCT.md): ours adds at most 10 MiB (signal and setprofile).
"""

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402

BAR_MIB = 10.0


def main():
    p = C.base_parser(__doc__.split("\n")[0], runs_default=1)
    p.add_argument("--seconds", type=float, default=60.0,
                   help="length of the call-heavy run (default: %(default)s)")
    args = p.parse_args()
    ours = C.check_binary(args.pyinstrument, args.python)
    venv = None if args.no_peer else C.ensure_venv(args.python, need_django=False, need_peer=True)

    tmpdir = tempfile.mkdtemp(prefix="pyi-mem-")
    out = os.path.join(tmpdir, "profile.txt")
    work = [os.path.join(C.WORKLOADS, "call_heavy.py"), "--seconds", "%g" % args.seconds]
    variants = [
        ("python", "python alone", [args.python] + work, C.plain_env()),
        ("signal", "pyinstrument-rs (signal)", [ours, "-o", out] + work, C.plain_env()),
        ("setprofile", "pyinstrument-rs (setprofile)", [ours, "--setprofile", "-o", out] + work,
         C.plain_env()),
    ]
    if venv:
        variants.append(("pyi5", "pyinstrument 5.1.3",
                         [os.path.join(venv, "bin", "python"), "-m", "pyinstrument", "-o", out]
                         + work, C.venv_env(venv)))

    rss = {}
    walls = {}
    for r in range(args.runs):
        for key, label, cmd, env in variants:
            res = C.run_measured(cmd, env=env, timeout=args.seconds * 20 + 120)
            rss.setdefault(key, []).append(res.maxrss_kib / 1024.0)
            walls.setdefault(key, []).append(res.wall)
            C.log("[memory] run %d/%d %-10s peak RSS %.1f MiB, wall %.1f s"
                  % (r + 1, args.runs, key, res.maxrss_kib / 1024.0, res.wall))
    if os.path.exists(out):
        os.unlink(out)
    os.rmdir(tmpdir)

    base = C.median(rss["python"])
    rows = []
    ok = True
    for key, label, cmd, env in variants:
        peak = C.median(rss[key])
        added = peak - base
        bar = "-"
        if key in ("signal", "setprofile"):
            good = added <= BAR_MIB
            ok = ok and good
            bar = C.verdict(good)
        rows.append([label, "%.1f" % peak, "%+.1f" % added if key != "python" else "-",
                     "%.1f" % C.median(walls[key]), bar])
    print()
    print("Peak RSS of a %g s call-heavy run (python %s, %d run(s) per variant, median; %s)"
          % (args.seconds, C.python_version(args.python), args.runs, C.machine_conditions()))
    print(C.fmt_table(["variant", "peak RSS MiB", "added MiB", "wall s",
                       "bar <= %g MiB" % BAR_MIB], rows))
    print()
    print("Bar for ours (adds at most %g MiB): %s" % (BAR_MIB, C.verdict(ok)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
