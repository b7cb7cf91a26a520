"""Benchmark workload: Django's template engine standalone, rendering a child
template (extends a base with blocks; loops, filters, include, if) N times.

usage: django_render.py [N]   (default 2000)
Prints "BENCH_WORKLOAD_SECONDS <t>": the wall time of the render loop only,
and "BENCH_WORKLOAD_CPU_SECONDS <t>": the process CPU time of that loop.
"""
import datetime
import os
import sys
import time

import django
from django.conf import settings

NITEMS = 5
HERE = os.path.dirname(os.path.abspath(__file__))

settings.configure(
    DEBUG=False,
    USE_TZ=False,
    TEMPLATES=[{
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [os.path.join(HERE, "templates")],
        "OPTIONS": {},
    }],
)
django.setup()

from django.template import loader  # noqa: E402


def make_context():
    base = datetime.datetime(2024, 1, 15, 9, 30)
    items = []
    for i in range(NITEMS):
        items.append({
            "name": "widget %d" % i,
            "price": 3.14159 * (i + 1),
            "note": "" if i % 3 else "limited edition",
            "in_stock": i % 4 != 0,
            "backorder": i % 8 == 0,
            "added": base - datetime.timedelta(days=i * 3),
        })
    return {
        "site_name": "bench shop",
        "page_title": "Catalogue",
        "now": base,
        "user": {"is_authenticated": True, "name": "Ada", "last_seen": base},
        "nav_links": [{"url": "/%s/" % t, "title": t, "active": t == "shop"}
                      for t in ("home", "shop", "about us", "contact")],
        "items": items,
        "tags": ["Python", "Profiling", "Django Templates", "Rust", "Benchmarks"],
        "total": sum(it["price"] for it in items),
    }


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    template = loader.get_template("child.html")
    context = make_context()
    template.render(context)  # warm the cached loader
    size = 0
    t0 = time.perf_counter()
    c0 = time.process_time()
    c0 = time.process_time()
    for _ in range(n):
        size += len(template.render(context))
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - c0
    print("rendered %d times, %d bytes" % (n, size))
    print("BENCH_WORKLOAD_SECONDS %.6f" % elapsed)
    print("BENCH_WORKLOAD_CPU_SECONDS %.6f" % cpu)


if __name__ == "__main__":
    main()
