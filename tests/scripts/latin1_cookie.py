# -*- coding: latin-1 -*-
from __future__ import print_function
import sys
s = "café naïve"
print(len(s), repr(s))
sys.stdout.write(s + "\n")
