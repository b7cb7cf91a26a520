"""A little CPU work in named functions, for report contents."""
from __future__ import print_function

import sys


def leaf(n):
    total = 0
    for i in range(n):
        total += i * i
    return total


def branch():
    return [leaf(20000) for _ in range(20)]


def main():
    out = 0
    for _ in range(5):
        out += sum(branch())
    print("busy done", out)


if __name__ == "__main__":
    main()
