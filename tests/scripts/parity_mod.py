"""A plain top-level module for `python -m parity_mod`."""
import os
import sys


def show(label, value):
    sys.stdout.write("%s: %r\n" % (label, value))


def explode():
    raise ValueError("raised in a -m module")


show("argv", sys.argv)
show("sys.path[0]", sys.path[0])
show("__name__", __name__)
show("__package__", __package__)
# No __spec__ on 2.7.
show("__spec__.name", getattr(globals().get("__spec__"), "name", "n/a"))
show("__file__", __file__)
show("loader type", type(__loader__).__name__)
if __name__ == "__main__" and "--raise" in sys.argv:
    explode()
if "--exit" in sys.argv:
    sys.exit(int(sys.argv[sys.argv.index("--exit") + 1]))
