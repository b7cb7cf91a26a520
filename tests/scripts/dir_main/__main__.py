import sys


def show(label, value):
    sys.stdout.write("%s: %r\n" % (label, value))


show("argv", sys.argv)
show("sys.path[0]", sys.path[0])
show("__name__", __name__)
show("__file__", __file__)
# No __spec__ on 2.7.
show("__spec__.name", getattr(globals().get("__spec__", "n/a"), "name", None))
show("__package__", __package__)
import helper_mod
show("helper", helper_mod.VALUE)
if "--raise" in sys.argv:
    raise RuntimeError("raised in a directory's __main__")
