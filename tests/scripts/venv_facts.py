"""Imports a package that only the virtualenv has and shows the environment."""
import sys

import venvonly_pkg

print("venvonly_pkg:", venvonly_pkg.WHERE)
print("sys.prefix:", sys.prefix)
print("sys.base_prefix:", sys.base_prefix)
print("sys.exec_prefix:", sys.exec_prefix)
print("sys.executable:", sys.executable)
print("sys.path:", sys.path)
