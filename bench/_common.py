"""Shared helpers for the benchmark drivers in bench/ (stdlib only).

- argument defaults (--pyinstrument, --python, --runs)
- an idempotent virtualenv under bench/.venv-<python version> holding Django
  and pyinstrument 5.1.3 from PyPI (the peer we compare against)
- timing / RSS measurement of child processes, medians, table printing
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.dirname(BENCH_DIR)
WORKLOADS = os.path.join(BENCH_DIR, "workloads")
DEFAULT_PYINSTRUMENT = os.path.join(REPO_DIR, "target", "release", "pyinstrument")
PYENV_311 = "/root/.pyenv/versions/3.11.7/bin/python"

# What the comparison venv holds. Bump VENV_STAMP_VERSION to force a rebuild.
PEER_PYINSTRUMENT = "pyinstrument==5.1.3"
DJANGO_REQ = "Django>=4.2,<5.2"
VENV_STAMP_VERSION = 1

# Printed by every workload on stdout: the in-script time of the measured loop.
MARKER = "BENCH_WORKLOAD_SECONDS"
# ... and (where it makes sense) the process CPU time of that loop, which is
# far less disturbed by other load on the machine than wall time.
CPU_MARKER = "BENCH_WORKLOAD_CPU_SECONDS"


def default_python():
    """The python the release binary was built for (build.rs reads
    PYTHON_SYS_EXECUTABLE, default python3 = pyenv 3.11.7)."""
    env = os.environ.get("PYTHON_SYS_EXECUTABLE")
    if env:
        return shutil.which(env) or env
    if os.path.exists(PYENV_311):
        return PYENV_311
    return shutil.which("python3") or "python3"


def base_parser(description, runs_default):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--pyinstrument", default=DEFAULT_PYINSTRUMENT,
                   help="our release binary (default: %(default)s)")
    p.add_argument("--python", default=default_python(),
                   help="the python the binary was built for (default: %(default)s)")
    p.add_argument("--runs", type=int, default=runs_default,
                   help="runs per variant (default: %(default)s)")
    p.add_argument("--no-peer", action="store_true",
                   help="skip pyinstrument 5.1.3 (and do not create the venv if the "
                        "workload does not need it)")
    return p


def check_binary(path, python=None):
    """Checks the binary exists and, given `python`, that it embeds the same
    Python version (a binary rebuilt against another python would make every
    comparison meaningless)."""
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        sys.exit("error: no pyinstrument binary at %s (build it: "
                 "CARGO_TARGET_DIR=%s/target cargo build --release)" % (path, REPO_DIR))
    path = os.path.abspath(path)
    if python:
        import tempfile
        d = tempfile.mkdtemp(prefix="pyi-check-")
        try:
            script = os.path.join(d, "v.py")
            with open(script, "w") as f:
                f.write("import platform; print('VERSION', platform.python_version())\n")
            out = subprocess.run([path, "-o", os.path.join(d, "out.txt"), script],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 universal_newlines=True, env=plain_env(), timeout=60)
        finally:
            shutil.rmtree(d, ignore_errors=True)
        got = [l.split()[1] for l in out.stdout.splitlines() if l.startswith("VERSION ")]
        want = python_version(python)
        if got != [want]:
            sys.exit("error: %s runs Python %s but --python %s is %s; rebuild it with "
                     "PYTHON_SYS_EXECUTABLE=%s or pass the matching --python\n%s"
                     % (path, got[0] if got else "?", python, want, python, out.stderr.strip()))
    return path


def python_version(python):
    out = subprocess.run([python, "-c", "import platform; print(platform.python_version())"],
                         check=True, stdout=subprocess.PIPE, universal_newlines=True)
    return out.stdout.strip()


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def ensure_venv(python, need_django=True, need_peer=True):
    """Creates (once) bench/.venv-<ver> with Django and pyinstrument 5.1.3 and
    returns its directory. Idempotent: a stamp file records what was installed;
    a matching stamp means nothing is done."""
    ver = python_version(python)
    venv = os.path.join(BENCH_DIR, ".venv-" + ver)
    vpy = os.path.join(venv, "bin", "python")
    reqs = []
    if need_django:
        reqs.append(DJANGO_REQ)
    if need_peer:
        reqs.append(PEER_PYINSTRUMENT)
    stamp_path = os.path.join(venv, "bench-stamp.json")
    try:
        with open(stamp_path) as f:
            stamp = json.load(f)
    except (OSError, ValueError):
        stamp = {}
    installed = set(stamp.get("reqs", [])) if stamp.get("v") == VENV_STAMP_VERSION \
        and stamp.get("python") == os.path.realpath(python) else set()
    missing = [r for r in reqs if r not in installed]
    if os.path.exists(vpy) and not missing:
        return venv
    if not os.path.exists(vpy) or not installed:
        log("[bench] creating virtualenv %s" % venv)
        subprocess.run([python, "-m", "venv", "--clear", venv], check=True)
        installed = set()
    log("[bench] pip install %s" % " ".join(missing))
    subprocess.run([vpy, "-m", "pip", "install", "-q"] + missing, check=True,
                   stdout=sys.stderr)
    installed.update(missing)
    with open(stamp_path, "w") as f:
        json.dump({"v": VENV_STAMP_VERSION, "python": os.path.realpath(python),
                   "reqs": sorted(installed)}, f)
    return venv


def venv_env(venv):
    """Environment that activates `venv` for our runner (it reads VIRTUAL_ENV)."""
    env = dict(os.environ)
    env["VIRTUAL_ENV"] = venv
    env["PATH"] = os.path.join(venv, "bin") + os.pathsep + env.get("PATH", "")
    env.pop("PYTHONHOME", None)
    return env


def plain_env():
    env = dict(os.environ)
    env.pop("VIRTUAL_ENV", None)
    return env


class RunResult(object):
    def __init__(self, wall, inscript, maxrss_kib, stdout, stderr, rc, inscript_cpu=None):
        self.wall = wall
        self.inscript_cpu = inscript_cpu
        self.inscript = inscript
        self.maxrss_kib = maxrss_kib
        self.stdout = stdout
        self.stderr = stderr
        self.rc = rc


def run_measured(cmd, env=None, cwd=None, timeout=None, check=True):
    """Runs cmd, returning wall time (measured here, whole process), the
    in-script time printed by the workload (MARKER line, or None) and the
    child's peak RSS (ru_maxrss, KiB on Linux) via os.wait4."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True)
    deadline = None if timeout is None else t0 + timeout
    # Read both pipes without deadlocking, then reap with wait4 for rusage.
    import threading
    bufs = {"out": [], "err": []}

    def pump(stream, key):
        for chunk in iter(lambda: stream.read(65536), ""):
            bufs[key].append(chunk)
        stream.close()

    threads = [threading.Thread(target=pump, args=(proc.stdout, "out")),
               threading.Thread(target=pump, args=(proc.stderr, "err"))]
    for t in threads:
        t.daemon = True
        t.start()
    while True:
        pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if deadline is not None and time.perf_counter() > deadline:
            proc.kill()
            pid, status, ru = os.wait4(proc.pid, 0)
            raise RuntimeError("timed out after %ss: %s" % (timeout, " ".join(cmd)))
        time.sleep(0.002)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") \
        else (status >> 8)
    for t in threads:
        t.join()
    stdout = "".join(bufs["out"])
    stderr = "".join(bufs["err"])
    if check and proc.returncode != 0:
        raise RuntimeError("command failed (exit %s): %s\n--- stdout ---\n%s\n--- stderr ---\n%s"
                           % (proc.returncode, " ".join(cmd), stdout[-3000:], stderr[-3000:]))
    inscript = inscript_cpu = None
    for line in stdout.splitlines():
        if line.startswith(MARKER + " "):
            inscript = float(line.split()[1])
        elif line.startswith(CPU_MARKER + " "):
            inscript_cpu = float(line.split()[1])
    return RunResult(wall, inscript, ru.ru_maxrss, stdout, stderr, proc.returncode, inscript_cpu)


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def fmt_table(headers, rows, aligns=None):
    """Plain-text table; rows are lists of strings."""
    widths = [len(h) for h in headers]
    for r in rows:
        for i, c in enumerate(r):
            widths[i] = max(widths[i], len(c))
    aligns = aligns or (["<"] + [">"] * (len(headers) - 1))

    def line(cells):
        return "  ".join("{:{a}{w}}".format(c, a=a, w=w) for c, a, w in zip(cells, aligns, widths))

    out = [line(headers), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in rows]
    return "\n".join(out)


def machine_conditions():
    """One line describing the conditions of a measurement."""
    try:
        load = "%.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        load = "?"
    return "cpus=%s loadavg(1/5/15m)=%s" % (os.cpu_count(), load)


def verdict(ok):
    if ok is None:
        return "n/a"
    return "PASS" if ok else "FAIL"
