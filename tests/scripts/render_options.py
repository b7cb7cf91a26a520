"""Profiles a little work with the Python API, then writes the text and
HTML reports for every option set named on the command line (as JSON keyword
arguments), and the session, so that tests/cli_behaviour.rs can render the
same session with `pyinstrument --load` and the command line's spellings.

usage: render_options.py OUTDIR JSON_KWARGS...
"""
import json
import os
import sys
import time

from pyinstrument import Profiler


class Price(object):
    def __init__(self, cents):
        self.cents = cents


def encode_price(obj):
    # Called back by json's encoder: application code inside a library.
    busy_until = time.time() + 0.0002
    while time.time() < busy_until:
        pass
    return obj.cents / 100.0


def work():
    rows = [{"name": "row %d" % i, "price": Price(i)} for i in range(100)]
    for _ in range(10):
        json.dumps(rows, default=encode_price)
    time.sleep(0.02)


def main():
    outdir = sys.argv[1]
    profiler = Profiler()
    profiler.start()
    work()
    profiler.stop()
    with open(os.path.join(outdir, "session.json"), "w") as f:
        f.write(profiler.session_json())
    for index, kwargs in enumerate(sys.argv[2:]):
        kwargs = json.loads(kwargs)
        with open(os.path.join(outdir, "api-%d.txt" % index), "w") as f:
            f.write(profiler.output_text(**kwargs))
        with open(os.path.join(outdir, "api-%d.html" % index), "w") as f:
            f.write(profiler.output_html(**kwargs))


main()
