"""A plain module inside the package: `python -m parity_pkg.plain`."""
from __future__ import print_function

import sys

print("argv", sys.argv)
# No __spec__ on 2.7.
spec_name = getattr(globals().get("__spec__"), "name", "n/a")
print("__name__", __name__, "__spec__.name", spec_name, "__package__", __package__)
