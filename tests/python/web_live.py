"""The WSGI and ASGI middlewares in real servers: the Flask app of
web_apps.py under waitress (4 threads) and, on Python 3, the FastAPI app
under uvicorn, each on 127.0.0.1 and a free port, hit by 20 requests from 4
client threads at once, a third of them with `?profile`:

    python tests/python/web_live.py [--runner PATH/TO/pyinstrument]

Every response must be right: the page, or for an allowed `?profile` a
whole HTML profile that names the request's own view (and, under WSGI,
whose threads keep requests apart, not the other view); a `?profile`
without the allowing header gets the page. With --runner the servers run
inside `pyinstrument` (which profiles the whole server meanwhile).
Prints 'SKIPPED <part>: <reason>' for a part that cannot run here, and
'WEB LIVE OK' at the end. Every server is killed at the end, whatever
happens; every wait is bounded.
"""
from __future__ import print_function

import os
import re
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from live_server import REQUEST_TIMEOUT, Server as LiveServer, get  # noqa: E402
from web_apps import ASGI_ALPHA, ASGI_BETA, WSGI_ALPHA, WSGI_BETA  # noqa: E402

NAMES = {'wsgi': {'alpha': WSGI_ALPHA, 'beta': WSGI_BETA},
         'asgi': {'alpha': ASGI_ALPHA, 'beta': ASGI_BETA}}


class Server(LiveServer):
    """`web_apps.py KIND PORT`, in plain python or inside the runner."""

    def __init__(self, kind, log_dir, runner=None):
        LiveServer.__init__(self, log_dir, kind, HERE, '/alpha/?seconds=0')
        script = [os.path.join(HERE, 'web_apps.py'), kind, str(self.port)]
        self.command = ([runner, '-o', os.devnull] if runner else [sys.executable]) + script
        if kind == 'wsgi' and sys.version_info < (3, 7):
            # On 2.7 and 3.6 signal mode samples a thread other than the
            # main one by taking the GIL, which 4 computing request threads
            # can keep from it for a whole request (seen: 0 samples in 0.2 s
            # of a request's CPU); the README says to use setprofile mode
            # for threaded servers there, as this one does.
            self.env['WEBAPPS_USE_SIGNAL'] = '0'


def requests_plan():
    """20 requests: (view, with ?profile, with the allowing header)."""
    plan = []
    for index in range(20):
        view = 'alpha' if index % 2 == 0 else 'beta'
        plan.append((view, index % 3 == 0, index % 3 == 0 or index % 5 == 0))
    plan[19] = ('beta', True, False)  # asks for a profile, not allowed
    return plan


def check_server(kind, log_dir, runner):
    where = '%s%s' % (kind.upper(), ' inside the runner' if runner else '')
    plan = requests_plan()
    results = {}
    work = list(enumerate(plan))
    lock = threading.Lock()

    def client():
        while True:
            with lock:
                if not work:
                    return
                index, (view, profile, allowed) = work.pop(0)
            # A profiled request computes longer: on 2.7 and 3.6 a thread
            # other than the main one is sampled when the sampler gets the
            # GIL, about once per switch interval per computing thread.
            url = '/%s/?seconds=%s' % (view, '0.2&profile' if profile else '0.02')
            headers = {'X-Profile-Me': 'yes'} if allowed else {}
            try:
                results[index] = get(server.url(url), headers)
            except Exception as error:  # reported below
                results[index] = (None, '', repr(error))

    with Server(kind, log_dir, runner) as server:
        started = time.time()
        threads = [threading.Thread(target=client) for _ in range(4)]
        for thread in threads:
            thread.daemon = True
            thread.start()
        for thread in threads:
            thread.join(REQUEST_TIMEOUT * 3)
        elapsed = time.time() - started
        assert len(results) == len(plan), '%s: %d of %d requests answered' % (where, len(results), len(plan))
        profiles = 0
        for index, (view, profile, allowed) in enumerate(plan):
            status, content_type, body = results[index]
            label = '%s, request %d (/%s/%s%s)' % (where, index, view, '?profile' if profile else '',
                                                   ', allowed' if allowed else '')
            assert status == 200, '%s: status %s: %s' % (label, status, body[:500])
            if not (profile and allowed):
                assert body == '%s page\n' % view, '%s: %r' % (label, body[:300])
                continue
            profiles += 1
            assert content_type.startswith('text/html'), (label, content_type)
            assert re.search(r'^\s*<!doctype html', body, re.I) and re.search(r'</html>\s*$', body, re.I), \
                '%s: not a whole HTML page: %r' % (label, body[:200])
            own = NAMES[kind][view]
            other = NAMES[kind]['beta' if view == 'alpha' else 'alpha']
            summary = re.search(r'Duration: [^<"]*', body)
            assert own in body, '%s: the profile (%s) does not name %s' % (
                label, summary.group(0) if summary else '?', own)
            if kind == 'wsgi':
                assert other not in body, '%s: the profile names %s too' % (label, other)
        print('  %s: %d concurrent requests from 4 threads OK, %d profiles (%.2fs)'
              % (where, len(plan), profiles, elapsed))


def main():
    runner = None
    if '--runner' in sys.argv:
        runner = sys.argv[sys.argv.index('--runner') + 1]
    log_dir = tempfile.mkdtemp(prefix='pyinstrument-web-live-')
    for kind, modules in (('wsgi', ('flask', 'waitress')), ('asgi', ('uvicorn',))):
        if kind == 'asgi' and sys.version_info[0] < 3:
            print('SKIPPED asgi live server: ASGI (asyncio, uvicorn) needs Python 3')
            continue
        try:
            for module in modules:
                __import__(module)
        except ImportError as error:
            print('SKIPPED %s live server: %s' % (kind, error))
            continue
        check_server(kind, log_dir, runner)
    print('WEB LIVE OK')


if __name__ == '__main__':
    main()
