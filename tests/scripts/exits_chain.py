"""Python 3 only (`raise ... from` is a syntax error on 2.7): ends with an
explicitly chained exception."""
import sys

print("started chain")


def inner(n):
    if n == 0:
        raise ValueError("bad value \u00e9")
    return inner(n - 1)


try:
    inner(1)
except ValueError as exc:
    raise RuntimeError("while handling") from exc
print("end of chain")
