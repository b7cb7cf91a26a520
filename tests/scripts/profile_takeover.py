"""Replaces the profile function halfway through, as argv[1] says: "keep"
(leaves it alone), "none" (sys.setprofile(None)), "function" (its own) or
"cprofile" (cProfile enabled, then disabled: before 3.12, a C-level
replacement that leaves no profile function behind; since 3.12 cProfile
uses sys.monitoring instead)."""
from __future__ import print_function

import sys
import time


def spin(seconds):
    end = time.time() + seconds
    while time.time() < end:
        pass


spin(0.05)
how = sys.argv[1]
if how == "none":
    sys.setprofile(None)
elif how == "function":
    sys.setprofile(lambda frame, event, arg: None)
elif how == "cprofile":
    import cProfile

    profile = cProfile.Profile()
    profile.enable()
    spin(0.01)
    profile.disable()
elif how != "keep":
    sys.exit("unknown way %r" % how)
spin(0.05)
print("ok", how, sys.getprofile() is None)
