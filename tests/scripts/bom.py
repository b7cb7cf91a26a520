from __future__ import print_function
import sys
s = "été"
print(len(s), repr(s))
print(__doc__)
