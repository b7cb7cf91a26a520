"""Creates the file named by argv[1] (to prove the program ran)."""
import sys

with open(sys.argv[1], "w") as f:
    f.write("ran\n")
print("marker written")
