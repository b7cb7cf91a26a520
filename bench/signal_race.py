"""How often can a sampling signal still cut a blocking call short?

Signal mode sends SIGPROF only to a thread that holds the GIL and runs on a
CPU, and holds the GIL's mutex until the handler has run (see
src/ffi/gated_sampler.rs). This measures what is left, on an I/O-heavy
program: many short blocking calls made from C through ctypes, each either
with the GIL released (ctypes.CDLL, as C extensions and Python's own
wrappers do) or with the GIL held (ctypes.PyDLL: the one case the design
leaves a window for, between its CPU check and the signal's arrival).
Each call that returns -1/EINTR (usleep, poll) counts.

    python3 bench/signal_race.py [--calls 20000] [--pyinstrument PATH] [--python PATH]
"""

import os
import subprocess
import sys
import tempfile

from _common import base_parser

PROGRAM = r'''
import ctypes, ctypes.util, os, sys, time
calls = int(sys.argv[1])
name = ctypes.util.find_library("c") or "libc.so.6"
released = ctypes.CDLL(name, use_errno=True)
held = ctypes.PyDLL(name, use_errno=True)

class PollFd(ctypes.Structure):
    _fields_ = [("fd", ctypes.c_int), ("events", ctypes.c_short), ("revents", ctypes.c_short)]

r, w = os.pipe()
fds = (PollFd * 1)(PollFd(r, 1, 0))
for label, lib in (("GIL released", released), ("GIL held", held)):
    eintr = 0
    start = time.time()
    for i in range(calls):
        # a little Python work between calls, so that ticks find it running
        sum(range(50))
        if i % 2:
            rc = lib.usleep(100)
        else:
            rc = lib.poll(fds, 1, 0 if i % 4 == 0 else 1)
        if rc < 0:
            eintr += 1
    print("%s: %d of %d calls interrupted (%.1f s)" % (label, eintr, calls, time.time() - start))
'''


def main():
    parser = base_parser(__doc__.splitlines()[0], runs_default=1)
    parser.add_argument("--calls", type=int, default=20000)
    args = parser.parse_args()
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(PROGRAM)
    try:
        for label, command in (("python", [args.python]),
                               ("pyinstrument (signal)", [args.pyinstrument, "-o", os.devnull])):
            for _ in range(args.runs):
                out = subprocess.run(command + [f.name, str(args.calls)], stdout=subprocess.PIPE,
                                     universal_newlines=True, check=True).stdout
                for line in out.splitlines():
                    print("%-22s %s" % (label, line))
    finally:
        os.unlink(f.name)


if __name__ == "__main__":
    main()
