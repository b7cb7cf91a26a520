"""Imports a package that only the virtualenv has and shows the environment."""
from __future__ import print_function

import sys

import venvonly_pkg

print("venvonly_pkg:", venvonly_pkg.WHERE)
print("sys.prefix:", sys.prefix)
print("sys.base_prefix:", getattr(sys, "base_prefix", "n/a"))
print("sys.exec_prefix:", sys.exec_prefix)
print("sys.executable:", sys.executable)
print("sys.path:", sys.path)
