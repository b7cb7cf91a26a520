"""A plain module inside the package: `python -m parity_pkg.plain`."""
import sys

print("argv", sys.argv)
print("__name__", __name__, "__spec__.name", __spec__.name, "__package__", __package__)
