"""Changes directory before doing its work; the -o report must still land
relative to where pyinstrument was started."""
from __future__ import print_function

import os
import sys

os.chdir(sys.argv[1])
print("now in", os.path.basename(os.getcwd()))
total = 0
for i in range(200000):
    total += i
print(total)
