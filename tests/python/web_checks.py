"""pyinstrument's WSGI middleware with a real Flask app (its test client),
and on Python 3 its ASGI middleware with a real FastAPI app (web_asgi_checks.py).
Run with a python whose environment has Flask (and FastAPI, uvicorn's
dependencies aside), in plain python with pyinstrument installed or inside
the runner:

    pyinstrument -o /dev/null tests/python/web_checks.py

Prints 'SKIPPED <part>: <reason>' for a part that cannot run here (the
caller counts it), and 'WEB CHECKS OK' at the end.
"""
from __future__ import print_function

import logging
import os
import re
import shutil
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from web_apps import (WSGI_ALPHA, WSGI_BETA, flask_app, wsgi_allows, wsgi_alpha_view_spinner_q1,  # noqa: E402
                      wsgi_beta_view_spinner_k2)

ALLOW = {'X-Profile-Me': 'yes'}
OWN = {'alpha': (WSGI_ALPHA, WSGI_BETA), 'beta': (WSGI_BETA, WSGI_ALPHA)}
# pyinstrument logs a profile it could not save; the checks expect some.
logging.basicConfig(level=logging.CRITICAL)


def text(response):
    return response.get_data().decode('utf-8')


def check_profile(response, own, other, where):
    html = text(response)
    assert response.status_code == 200, (where, response.status_code, html[:300])
    assert response.headers['Content-Type'].startswith('text/html'), (where, response.headers)
    assert response.headers.get('Cache-Control') == 'no-store', (where, response.headers)
    assert re.search(r'^\s*<!doctype html', html, re.I) and re.search(r'</html>\s*$', html, re.I), \
        (where, html[:200])
    assert own in html, '%s: the profile does not name %s' % (where, own)
    if other is not None:
        assert other not in html, '%s: the profile names %s too' % (where, other)


def check_page(response, expected, where):
    assert response.status_code == 200 and text(response) == expected, \
        (where, response.status_code, text(response)[:300])


def check_closed_by_default():
    client = flask_app().test_client()
    check_page(client.get('/alpha/?profile', headers=ALLOW), 'alpha page\n', 'no show_callback')
    client = flask_app(show_callback=wsgi_allows).test_client()
    check_page(client.get('/alpha/?profile'), 'alpha page\n', 'the show_callback says no')
    client = flask_app(show_callback='web_apps.wsgi_allows').test_client()
    check_page(client.get('/beta/?profile'), 'beta page\n', 'a dotted-path show_callback says no')
    check_profile(client.get('/beta/?profile', headers=ALLOW), WSGI_BETA, WSGI_ALPHA,
                  'a dotted-path show_callback says yes')
    print('  WSGI: closed by default OK')


def check_profile_page(use_signal):
    where = 'WSGI, %s mode' % ('signal' if use_signal else 'setprofile')
    client = flask_app(show_callback=wsgi_allows, use_signal=use_signal).test_client()
    check_profile(client.get('/alpha/?profile', headers=ALLOW), WSGI_ALPHA, WSGI_BETA, where)
    check_profile(client.get('/beta/?profile', headers=ALLOW), WSGI_BETA, WSGI_ALPHA, where)
    check_page(client.get('/alpha/', headers=ALLOW), 'alpha page\n', where + ', no ?profile')
    # A streamed body is produced inside the profile too.
    check_profile(client.get('/stream/?profile', headers=ALLOW), WSGI_ALPHA, WSGI_BETA, where + ', streamed')
    check_page(client.get('/stream/'), 'chunk 0\nchunk 1\nchunk 2\n', where + ', streamed, no ?profile')
    # The app's error page is replaced by the profile; the next request is profiled.
    check_profile(client.get('/boom/?profile', headers=ALLOW), WSGI_ALPHA, WSGI_BETA, where + ', failing view')
    check_profile(client.get('/alpha/?profile', headers=ALLOW), WSGI_ALPHA, WSGI_BETA, where + ', after')
    print('  %s: ?profile OK' % where)


def check_concurrent_threads():
    """Requests in threads at once: each profile has its own view only."""
    app = flask_app(show_callback=wsgi_allows)
    results = {}

    def fetch(index, view):
        results[index] = app.test_client().get('/%s/?profile&seconds=0.2' % view, headers=ALLOW)

    views = ['alpha', 'beta'] * 3
    threads = [threading.Thread(target=fetch, args=(i, v)) for i, v in enumerate(views)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for index, view in enumerate(views):
        own, other = OWN[view]
        check_profile(results[index], own, other, 'WSGI, thread %d (%s)' % (index, view))
    print('  WSGI: %d concurrent threads OK' % len(views))


def raw_app(environ, start_response):
    if environ['PATH_INFO'] == '/raise':
        raise ValueError('raised on purpose')
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'raw page\n']


def call_wsgi(app, path, query=''):
    """Calls a WSGI app by hand: (status, headers, body)."""
    environ = {'REQUEST_METHOD': 'GET', 'PATH_INFO': path, 'QUERY_STRING': query, 'SERVER_NAME': 'test',
               'SERVER_PORT': '80', 'wsgi.url_scheme': 'http', 'HTTP_X_PROFILE_ME': 'yes'}
    started = []

    def start_response(status, headers, exc_info=None):
        started.append((status, headers))
        return lambda data: None

    body = b''.join(app(environ, start_response))
    return started[-1][0], dict(started[-1][1]), body


def check_raw_wsgi():
    from pyinstrument import wsgi
    app = wsgi.ProfilerMiddleware(raw_app, show_callback=wsgi_allows)
    status, headers, body = call_wsgi(app, '/page', 'profile')
    assert status == '200 OK' and headers['Content-Type'].startswith('text/html'), (status, headers)
    assert int(headers['Content-Length']) == len(body) and body.rstrip().endswith(b'</html>'), headers
    try:
        call_wsgi(app, '/raise', 'profile')
    except ValueError:
        pass
    else:
        raise AssertionError('the app\'s exception did not propagate')
    assert not getattr(wsgi._busy, 'profiling', False), 'the thread is left busy'
    status, headers, body = call_wsgi(app, '/page', 'profile')
    assert headers['Content-Type'].startswith('text/html'), (status, headers)

    # A request that arrives on a thread already profiling one (a greenlet
    # server) is served unprofiled: here an app that calls another one.
    inner = wsgi.ProfilerMiddleware(raw_app, show_callback=wsgi_allows)
    inner_bodies = []

    def outer_app(environ, start_response):
        wsgi_alpha_view_spinner_q1(0.2)
        inner_bodies.append(call_wsgi(inner, '/page', 'profile')[2])
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [b'outer page\n']

    outer = wsgi.ProfilerMiddleware(outer_app, show_callback=wsgi_allows)
    status, headers, body = call_wsgi(outer, '/page', 'profile')
    assert headers['Content-Type'].startswith('text/html') and WSGI_ALPHA.encode() in body, body[:300]
    assert inner_bodies == [b'raw page\n'], [b[:100] for b in inner_bodies]
    # Alone, the inner app is profiled again.
    assert call_wsgi(inner, '/page', 'profile')[2].startswith(b'<!DOCTYPE html>')

    for bad in ({'renderer': 'nope'}, {'interval': 0}):
        try:
            wsgi.ProfilerMiddleware(raw_app, **bad)
        except ValueError:
            pass
        else:
            raise AssertionError('ProfilerMiddleware(%r) was accepted' % (bad,))
    print('  WSGI: any WSGI app, failures, one profile per thread OK')


def check_all_threads():
    """all_threads=True (or PYINSTRUMENT_ALL_THREADS in the environment):
    each profile has every thread, each a root named after it."""
    from pyinstrument import wsgi

    def app_with_a_worker(environ, start_response):
        worker = threading.Thread(target=wsgi_beta_view_spinner_k2, args=(0.2,), name='web-worker')
        worker.start()
        wsgi_alpha_view_spinner_q1(0.2)
        worker.join()
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [b'page\n']

    app = wsgi.ProfilerMiddleware(app_with_a_worker, show_callback=wsgi_allows, all_threads=True)
    body = call_wsgi(app, '/page', 'profile')[2]
    for expected in (WSGI_ALPHA, WSGI_BETA, "Thread 'web-worker' (tid "):
        assert expected.encode() in body, (expected, body[:300])
    saved = os.environ.get('PYINSTRUMENT_ALL_THREADS')
    os.environ['PYINSTRUMENT_ALL_THREADS'] = '1'
    try:
        assert wsgi.ProfilerMiddleware(raw_app).all_threads
    finally:
        if saved is None:
            del os.environ['PYINSTRUMENT_ALL_THREADS']
        else:
            os.environ['PYINSTRUMENT_ALL_THREADS'] = saved
    assert not wsgi.ProfilerMiddleware(raw_app, all_threads=False).all_threads
    print('  WSGI: all_threads OK')


def files_in(folder):
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def read(path):
    with open(path, 'rb') as handle:
        return handle.read().decode('utf-8')


def check_profile_dir(scratch):
    folder = os.path.join(scratch, 'wsgi', 'profiles')
    client = flask_app(profile_dir=folder).test_client()
    for view in ('alpha', 'beta', 'alpha'):
        check_page(client.get('/%s/' % view), '%s page\n' % view, 'profile_dir')
    check_page(client.get('/stream/'), 'chunk 0\nchunk 1\nchunk 2\n', 'profile_dir, streamed')
    files = files_in(folder)
    assert len(files) == 4, files
    for name in files:
        match = re.match(r'^\d+\.\d{3}s (alpha|beta|stream) \d+( \(\d+\))?\.html$', name)
        assert match, name
        view = 'alpha' if match.group(1) == 'stream' else match.group(1)
        own, other = OWN[view]
        html = read(os.path.join(folder, name))
        assert own in html and other not in html and html.rstrip().endswith('</html>'), name

    # Other renderers, a file name template (a taken name gets ' (N)').
    for renderer, extension, marker in (('text', 'txt', WSGI_ALPHA),
                                        ('speedscope', 'speedscope.json', '"$schema"'),
                                        ('pyinstrument.renderers.JSONRenderer', 'json', '"stacks"')):
        folder = os.path.join(scratch, 'wsgi', renderer)
        client = flask_app(profile_dir=folder, renderer=renderer,
                           filename='{path} custom.{ext}').test_client()
        client.get('/alpha/')
        client.get('/alpha/')
        assert files_in(folder) == ['alpha custom (1).%s' % extension, 'alpha custom.%s' % extension], \
            (renderer, files_in(folder))
        assert marker in read(os.path.join(folder, 'alpha custom.%s' % extension)), renderer

    # A filename callback; a name outside the folder is refused (logged),
    # and the page is still served.
    folder = os.path.join(scratch, 'wsgi', 'callback')
    seen = []

    def name_it(environ, session, renderer):
        seen.append((environ['PATH_INFO'], session.duration, renderer.output_file_extension))
        return '../escaped.html' if 'beta' in environ['PATH_INFO'] else 'sub/named.%s' % renderer.output_file_extension

    client = flask_app(profile_dir=folder, filename_callback=name_it).test_client()
    check_page(client.get('/alpha/'), 'alpha page\n', 'filename_callback')
    check_page(client.get('/beta/'), 'beta page\n', 'filename_callback outside the folder')
    assert files_in(folder) == ['sub'] and files_in(os.path.join(folder, 'sub')) == ['named.html'], \
        files_in(folder)
    assert not os.path.exists(os.path.join(scratch, 'wsgi', 'escaped.html'))
    assert seen[0][0] == '/alpha/' and seen[0][1] > 0 and seen[0][2] == 'html', seen

    # Hostile URL paths stay in the folder.
    folder = os.path.join(scratch, 'wsgi', 'hostile')
    client = flask_app(profile_dir=folder).test_client()
    paths = ['/any/..%2F..%2F..%2Fescaped/', '/any/' + 'a' * 3000 + '/', '/any/%E2%9C%93/...']
    for path in paths:
        check_page(client.get(path), 'index page\n', path[:40])
    files = files_in(folder)
    assert len(files) == len(paths), files
    for name in files:
        assert '/' not in name and '..' not in name and len(name) <= 200, name
    assert files_in(os.path.join(scratch, 'wsgi')) == ['callback', 'hostile', 'profiles',
                                                        'pyinstrument.renderers.JSONRenderer',
                                                        'speedscope', 'text'], files_in(scratch)
    print('  WSGI: profile_dir, renderers, file names OK')


def main():
    import flask
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # Flask 3.1 deprecates __version__
        version = getattr(flask, '__version__', '?')
    print('Flask %s on Python %d.%d' % ((version,) + sys.version_info[:2]))
    scratch = tempfile.mkdtemp(prefix='pyinstrument-web-checks-')
    try:
        check_closed_by_default()
        check_profile_page(use_signal=True)
        check_profile_page(use_signal=False)
        check_concurrent_threads()
        check_raw_wsgi()
        check_all_threads()
        check_profile_dir(scratch)
        if sys.version_info[0] < 3:
            print('SKIPPED asgi: ASGI (asyncio, FastAPI, Starlette) needs Python 3')
        else:
            import web_asgi_checks
            web_asgi_checks.main(scratch)
    finally:
        shutil.rmtree(scratch, True)
    print('WEB CHECKS OK')


if __name__ == '__main__':
    main()
