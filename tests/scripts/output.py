"""Writes to stdout and stderr in various ways; argv[1] says how. (Python 2
and 3; on 2.7 text goes out as UTF-8 bytes, a pipe having no encoding.)"""
from __future__ import print_function

import sys

PY2 = sys.version_info[0] < 3


def write_text(stream, text):
    stream.write(text.encode("utf-8") if PY2 else text)


mode = sys.argv[1]
if mode == "nonascii":
    text = u"caf\u00e9 \u00fcber na\u00efve \u2014 \u65e5\u672c\u8a9e \U0001F600"
    if PY2:
        write_text(sys.stdout, text + u"\n")
    else:
        print(text)
    write_text(sys.stderr, u"err: \u00e9\u00e8\u00ea \u2603\n")
    getattr(sys.stdout, "buffer", sys.stdout).write(b"raw bytes: \xff\xfe\x00\x01\n")
elif mode == "no_newline":
    sys.stdout.write("no newline on stdout")
    sys.stderr.write("no newline on stderr")
elif mode == "large":
    line = "0123456789abcdef" * 4 + "\n"  # 65 bytes
    for i in range(16200):  # about 1 MB
        sys.stdout.write("%06d %s" % (i, line))
    sys.stderr.write("x" * (256 * 1024))
elif mode == "interleave":
    for i in range(50):
        print("out %d" % i)
        sys.stderr.write("err %d\n" % i)
        if i % 10 == 0:
            sys.stdout.flush()
    print("last out", end="")
    sys.stderr.write("last err")
elif mode == "unbuffered_interleave":
    for i in range(20):
        print("out %d" % i)  # print(..., flush=True) is 3.3+
        sys.stdout.flush()
        sys.stderr.write("err %d\n" % i)
        sys.stderr.flush()
elif mode == "print_file":
    print("to stderr via print", file=sys.stderr)
    print("to stdout", "sep", sep="|", end="!\n")
else:
    sys.exit("unknown mode %r" % mode)
