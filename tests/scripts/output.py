"""Writes to stdout and stderr in various ways; argv[1] says how."""
import sys

mode = sys.argv[1]
if mode == "nonascii":
    print("caf\u00e9 \u00fcber na\u00efve \u2014 \u65e5\u672c\u8a9e \U0001F600")
    sys.stderr.write("err: \u00e9\u00e8\u00ea \u2603\n")
    sys.stdout.buffer.write(b"raw bytes: \xff\xfe\x00\x01\n")
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
        print("out %d" % i, flush=True)
        sys.stderr.write("err %d\n" % i)
        sys.stderr.flush()
elif mode == "print_file":
    print("to stderr via print", file=sys.stderr)
    print("to stdout", "sep", sep="|", end="!\n")
else:
    sys.exit("unknown mode %r" % mode)
