"""Forks; the child prints and exits through sys.exit, the parent waits."""
from __future__ import print_function

import os, sys, time
print("before fork"); sys.stdout.flush()
pid = os.fork()
if pid == 0:
    print("child")
    sys.exit(3)
else:
    _, status = os.waitpid(pid, 0)
    print("parent sees child status", os.WEXITSTATUS(status))
