# -*- coding: latin-1 -*-
import sys
s = "café naïve"
print(len(s), repr(s))
sys.stdout.write(s + "\n")
