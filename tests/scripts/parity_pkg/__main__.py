import os
import sys

from . import PACKAGE_CONSTANT
from .helpers import fail


def show(label, value):
    sys.stdout.write("%s: %r\n" % (label, value))


show("argv", sys.argv)
show("sys.path[0]", sys.path[0])
show("__name__", __name__)
show("__package__", __package__)
# No __spec__ on 2.7.
show("__spec__.name", getattr(globals().get("__spec__"), "name", "n/a"))
show("__file__", __file__)
show("loader type", type(__loader__).__name__)
show("constant", PACKAGE_CONSTANT)
show("cwd", os.getcwd())
if "--raise" in sys.argv:
    fail()
if "--exit" in sys.argv:
    sys.exit(4)
