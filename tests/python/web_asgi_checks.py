"""The ASGI half of web_checks.py (Python 3): pyinstrument's ASGI
middleware with a real FastAPI app (Starlette where FastAPI is not
installed), through Starlette's test client and through ASGI calls made by
hand on one event loop."""
import asyncio
import os
import re

from web_apps import ASGI_ALPHA, ASGI_BETA, asgi_allows, asgi_alpha_view_spinner_q3
from web_asgi import asgi_app

OWN = {'alpha': (ASGI_ALPHA, ASGI_BETA), 'beta': (ASGI_BETA, ASGI_ALPHA)}
ALLOW = {'X-Profile-Me': 'yes'}


def check_profile(status, content_type, html, own, other, where):
    assert status == 200, (where, status, html[:300])
    assert content_type.startswith('text/html'), (where, content_type)
    assert re.search(r'^\s*<!doctype html', html, re.I) and re.search(r'</html>\s*$', html, re.I), \
        (where, html[:200])
    assert own in html, '%s: the profile does not name %s' % (where, own)
    if other is not None:
        assert other not in html, '%s: the profile names %s too' % (where, other)


def client_get(client, url, headers=None):
    response = client.get(url, headers=headers or {})
    return response.status_code, response.headers.get('content-type', ''), response.text


def check_test_client(framework, use_signal):
    from starlette.testclient import TestClient
    where = '%s, %s mode' % (framework, 'signal' if use_signal else 'setprofile')
    _, closed = asgi_app()
    _, app = asgi_app(show_callback=asgi_allows, use_signal=use_signal)
    client = TestClient(app, raise_server_exceptions=False)
    status, _, body = client_get(TestClient(closed), '/alpha/?profile', ALLOW)
    assert status == 200 and body == 'alpha page\n', (where, 'no show_callback', status, body[:300])
    status, _, body = client_get(client, '/alpha/?profile')
    assert status == 200 and body == 'alpha page\n', (where, 'the callback says no', status, body[:300])
    check_profile(*client_get(client, '/alpha/?profile', ALLOW), own=ASGI_ALPHA, other=ASGI_BETA, where=where)
    check_profile(*client_get(client, '/beta/?profile', ALLOW), own=ASGI_BETA, other=ASGI_ALPHA,
                  where=where)
    # A failing view: the server's error, and the next request is profiled.
    status, _, _ = client_get(client, '/boom/?profile', ALLOW)
    assert status == 500, (where, 'failing view', status)
    check_profile(*client_get(client, '/alpha/?profile', ALLOW), own=ASGI_ALPHA, other=ASGI_BETA,
                  where=where + ', after a failure')
    # An async show callback.

    async def allow(scope):
        return True

    _, async_allowed = asgi_app(show_callback=allow, use_signal=use_signal)
    check_profile(*client_get(TestClient(async_allowed), '/beta/?profile'), own=ASGI_BETA, other=ASGI_ALPHA,
                  where=where + ', async callback')
    print('  %s: test client ?profile OK' % where)


class Call(object):
    """One HTTP request made by hand: the scope, receive and send an ASGI
    server would give the app."""

    def __init__(self, path, query=b'', allowed=True):
        self.scope = {'type': 'http', 'asgi': {'version': '3.0'}, 'http_version': '1.1', 'method': 'GET',
                      'scheme': 'http', 'path': path, 'raw_path': path.encode(), 'query_string': query,
                      'root_path': '', 'client': ('127.0.0.1', 5000), 'server': ('testserver', 80),
                      'headers': [(b'host', b'testserver')] + ([(b'x-profile-me', b'yes')] if allowed else [])}
        self.sent = []
        self.done = None  # made on the loop that runs the call (3.6-3.9 bind it then)
        self.requested = False

    async def receive(self):
        if not self.requested:
            self.requested = True
            return {'type': 'http.request', 'body': b'', 'more_body': False}
        await self.done.wait()
        return {'type': 'http.disconnect'}

    async def send(self, message):
        self.sent.append(message)

    async def run(self, app):
        self.done = asyncio.Event()
        try:
            await app(self.scope, self.receive, self.send)
        finally:
            self.done.set()
        start = [m for m in self.sent if m['type'] == 'http.response.start']
        assert len(start) == 1, self.sent
        headers = dict(start[0]['headers'])
        body = b''.join(m.get('body', b'') for m in self.sent if m['type'] == 'http.response.body')
        return start[0]['status'], headers.get(b'content-type', b'').decode(), body.decode('utf-8')


def run(coroutine):
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


def check_concurrent_on_one_loop(framework, scratch):
    """?profile requests at once on one event loop are profiled one after
    another, each naming its own view only; with profile_dir alone, a
    request that arrives while another is profiled is served unprofiled."""
    _, app = asgi_app(show_callback=asgi_allows)
    views = ['alpha', 'beta'] * 3

    async def all_at_once(app, calls):
        return await asyncio.gather(*[call.run(app) for call in calls])

    results = run(all_at_once(app, [Call('/%s/' % v, b'profile&seconds=0.2') for v in views]))
    for index, view in enumerate(views):
        own, other = OWN[view]
        check_profile(*results[index], own=own, other=other, where='%s, concurrent %d (%s)' % (framework, index, view))

    folder = os.path.join(scratch, 'asgi', 'concurrent')
    _, app = asgi_app(profile_dir=folder)
    results = run(all_at_once(app, [Call('/%s/' % v, b'seconds=0.2', allowed=False) for v in views]))
    for index, view in enumerate(views):
        assert results[index][0] == 200 and results[index][2] == '%s page\n' % view, (index, results[index])
    files = sorted(os.listdir(folder))
    assert 1 <= len(files) <= len(views), files
    for name in files:
        view = re.match(r'^\d+\.\d{3}s (alpha|beta) \d+( \(\d+\))?\.html$', name).group(1)
        with open(os.path.join(folder, name)) as handle:
            html = handle.read()
        assert OWN[view][0] in html, name
    print('  %s: %d concurrent requests on one loop OK (%d of %d saved with profile_dir alone)'
          % (framework, len(views), len(files), len(views)))


def check_profile_dir_and_passthrough(framework, scratch):
    folder = os.path.join(scratch, 'asgi', 'profiles')
    _, app = asgi_app(profile_dir=folder, renderer='text', filename='{path}.{ext}')
    for view in ('alpha', 'beta', 'alpha'):
        status, _, body = run(Call('/%s/' % view, allowed=False).run(app))
        assert status == 200 and body == '%s page\n' % view, (status, body)
    files = sorted(os.listdir(folder))
    assert files == ['alpha (1).txt', 'alpha.txt', 'beta.txt'], files
    with open(os.path.join(folder, 'beta.txt')) as handle:
        assert ASGI_BETA in handle.read()

    # Not HTTP: passed through untouched, never profiled.
    from pyinstrument.asgi import ProfilerMiddleware
    seen = []

    async def lifespan_app(scope, receive, send):
        seen.append(scope['type'])
        await send({'type': 'lifespan.startup.complete'})

    sent = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {'type': 'lifespan.startup'}

    middleware = ProfilerMiddleware(lifespan_app, show_callback=lambda scope: True, profile_dir=folder)
    run(middleware({'type': 'lifespan', 'asgi': {'version': '3.0'}}, receive, send))
    assert seen == ['lifespan'] and sent == [{'type': 'lifespan.startup.complete'}], (seen, sent)
    assert len(os.listdir(folder)) == 3
    print('  %s: profile_dir, renderer, file names, lifespan OK' % framework)


def check_without_asyncio():
    """Driven by another event loop than asyncio's (here: by hand, as trio
    would), a request that arrives while one is profiled on the thread is
    served unprofiled."""
    from pyinstrument.asgi import ProfilerMiddleware

    async def plain(scope, receive, send):
        asgi_alpha_view_spinner_q3(0.2)
        await send({'type': 'http.response.start', 'status': 200, 'headers': [(b'content-type', b'text/plain')]})
        await send({'type': 'http.response.body', 'body': b'plain page\n'})

    inner = ProfilerMiddleware(plain, show_callback=lambda scope: True)
    inner_bodies = []

    async def outer_app(scope, receive, send):
        sent = []

        async def keep(message):
            sent.append(message)

        await inner(scope, receive, keep)
        inner_bodies.append(b''.join(m.get('body', b'') for m in sent))
        await plain(scope, receive, send)

    def drive(app):
        sent = []

        async def send(message):
            sent.append(message)

        async def receive():
            return {'type': 'http.request', 'body': b'', 'more_body': False}

        coroutine = app(Call('/x/', b'profile').scope, receive, send)
        try:
            coroutine.send(None)
        except StopIteration:
            return b''.join(m.get('body', b'') for m in sent).decode('utf-8')
        raise AssertionError('the app waited for an event loop')

    html = drive(ProfilerMiddleware(outer_app, show_callback=lambda scope: True))
    check_profile(200, 'text/html', html, own=ASGI_ALPHA, other=None, where='no asyncio loop, outer')
    assert inner_bodies == [b'plain page\n'], [b[:100] for b in inner_bodies]
    check_profile(200, 'text/html', drive(inner), own=ASGI_ALPHA, other=None, where='no asyncio loop, alone')
    print('  ASGI without an asyncio loop: one profile per thread OK')


def main(scratch):
    try:
        import starlette.testclient  # noqa: F401 (needs requests or httpx)
    except ImportError as error:
        print('SKIPPED asgi: no FastAPI/Starlette test client here (%s)' % error)
        return
    framework, _ = asgi_app()
    print('%s' % framework)
    check_test_client(framework, use_signal=True)
    check_test_client(framework, use_signal=False)
    check_concurrent_on_one_loop(framework, scratch)
    check_profile_dir_and_passthrough(framework, scratch)
    check_without_asyncio()
