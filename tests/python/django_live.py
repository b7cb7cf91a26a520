"""Django for real: `manage.py runserver` (threaded) on 127.0.0.1 and a free
port, hit over HTTP. Run with a virtualenv's python that has Django and
pyinstrument installed:

    .venvs/django-py3.11/bin/python tests/python/django_live.py

Checks, in signal and setprofile mode, that several concurrent `?profile`
requests to two views each get a well-formed HTML profile naming their own
view's function and not the other's; that a profile folder gets one file per
request; and that a non-DEBUG server without a callback ignores `?profile`.
On Django < 2.0 the first and second checks are made again with the
middleware in MIDDLEWARE_CLASSES.
Every server is killed at the end, whatever happens; every wait is bounded.
"""
from __future__ import print_function

import os
import re
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from live_server import REQUEST_TIMEOUT, Server as LiveServer, get  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = os.path.join(os.path.dirname(HERE), 'django_project')
ALPHA = 'alpha_view_spinner_q7'
BETA = 'beta_view_spinner_k3'
OWN = {'alpha': (ALPHA, BETA), 'beta': (BETA, ALPHA)}


class Server(LiveServer):
    """`python manage.py runserver 127.0.0.1:PORT --noreload` (or, with a
    `command_prefix` such as the runner, `PREFIX manage.py runserver ...`)
    with the given settings in its environment."""

    def __init__(self, log_dir, python=sys.executable, command_prefix=(), **settings_env):
        LiveServer.__init__(self, log_dir, 'server', PROJECT, '/')
        self.env.pop('DJANGO_SETTINGS_MODULE', None)
        self.env.update(settings_env)
        # The runner takes the script and its arguments (no interpreter).
        interpreter = [] if command_prefix else [python]
        self.command = list(command_prefix) + interpreter + [
            'manage.py', 'runserver', '127.0.0.1:%d' % self.port, '--noreload']


def concurrent_gets(server, urls):
    """GETs all the urls at the same time; returns {index: (status, type, body)}."""
    results = {}
    barrier = threading.Event()

    def fetch(index, url):
        barrier.wait(30)
        try:
            results[index] = get(server.url(url))
        except Exception as error:  # reported by the caller
            results[index] = (None, '', repr(error))

    threads = [threading.Thread(target=fetch, args=(i, url)) for i, url in enumerate(urls)]
    for thread in threads:
        thread.daemon = True
        thread.start()
    barrier.set()
    for thread in threads:
        thread.join(REQUEST_TIMEOUT + 10)
    return results


def check_profile(result, view, where):
    status, content_type, body = result
    own, other = OWN[view]
    assert status == 200, '%s: status %s: %s' % (where, status, body[:500])
    assert content_type.startswith('text/html'), '%s: content type %r' % (where, content_type)
    assert re.search(r'^\s*<!doctype html|^\s*<html', body, re.I), '%s: not HTML: %r' % (where, body[:200])
    assert re.search(r'</html>\s*$', body, re.I), '%s: HTML not complete: %r' % (where, body[-200:])
    assert own in body, '%s: the profile does not name %s' % (where, own)
    assert other not in body, '%s: the profile names the other view\'s %s' % (where, other)


def old_middleware_env(old_middleware):
    return {'TESTPROJECT_OLD_MIDDLEWARE': '1'} if old_middleware else {}


def check_concurrent_profiles(log_dir, use_signal, runner=None, old_middleware=False):
    mode = 'signal' if use_signal else 'setprofile'
    where = '%s mode%s%s' % (mode, ' inside the runner' if runner else '',
                             ', MIDDLEWARE_CLASSES' if old_middleware else '')
    prefix = (runner,) if runner else ()
    with Server(log_dir, command_prefix=prefix, TESTPROJECT_DEBUG='1',
                TESTPROJECT_USE_SIGNAL='1' if use_signal else '0',
                **old_middleware_env(old_middleware)) as server:
        views = ['alpha', 'beta'] * 3
        started = time.time()
        results = concurrent_gets(server, ['/%s/?profile&seconds=0.4' % v for v in views])
        elapsed = time.time() - started
        for index, view in enumerate(views):
            check_profile(results[index], view, '%s, request %d (/%s/)' % (where, index, view))
        # Six 0.4 s requests served one after another would take 2.4 s.
        print('  %s: %d concurrent ?profile requests OK (%.2fs)' % (where, len(views), elapsed))
        # The normal page is still served.
        status, _, body = get(server.url('/alpha/'))
        assert status == 200 and body == 'alpha page\n', (status, body)


def check_profile_dir(log_dir, old_middleware=False):
    folder = os.path.join(log_dir, 'profiles', 'made-by-the-middleware%s' % ('-old' if old_middleware else ''))
    with Server(log_dir, TESTPROJECT_DEBUG='1', TESTPROJECT_PROFILE_DIR=folder,
                **old_middleware_env(old_middleware)) as server:
        before = set(os.listdir(folder)) if os.path.isdir(folder) else set()  # the start-up probe's
        views = ['alpha', 'beta'] * 2
        results = concurrent_gets(server, ['/%s/?seconds=0.2' % v for v in views])
        for index, view in enumerate(views):
            status, _, body = results[index]
            assert status == 200 and body == '%s page\n' % view, (index, status, body[:300])
        deadline = time.time() + 10
        while time.time() < deadline:
            files = sorted(set(os.listdir(folder)) - before)
            if len(files) >= len(views):
                break
            time.sleep(0.1)
    assert len(files) == len(views), 'expected %d profiles, found %r' % (len(views), files)
    for name in files:
        match = re.match(r'^\d+\.\d{3}s (alpha|beta) \d+( \(\d+\))?\.html$', name)
        assert match, 'unexpected file name %r' % name
        with open(os.path.join(folder, name), 'rb') as handle:
            html = handle.read().decode('utf-8')
        check_profile((200, 'text/html', html), match.group(1), 'profile file %r' % name)
    print('  profile folder%s: %d files OK' % (', MIDDLEWARE_CLASSES' if old_middleware else '', len(files)))


def check_not_debug_ignores_profile(log_dir):
    with Server(log_dir, TESTPROJECT_DEBUG='0') as server:
        for view in ('alpha', 'beta'):
            status, content_type, body = get(server.url('/%s/?profile' % view))
            assert status == 200 and body == '%s page\n' % view, (status, content_type, body[:300])
        status, _, body = get(server.url('/alpha/?profile'))
    with Server(log_dir, TESTPROJECT_DEBUG='0',
                TESTPROJECT_SHOW_CALLBACK='testproject.callbacks.header_allows') as server:
        status, _, body = get(server.url('/beta/?profile'))
        assert status == 200 and body == 'beta page\n', (status, body[:300])
    print('  non-DEBUG server ignores ?profile OK')


def main():
    runner = None
    if '--runner' in sys.argv:
        runner = sys.argv[sys.argv.index('--runner') + 1]
    log_dir = tempfile.mkdtemp(prefix='pyinstrument-django-live-')
    ok = False
    try:
        import django
        print('Django %s on Python %d.%d' % ((django.get_version(),) + sys.version_info[:2]))
        check_concurrent_profiles(log_dir, use_signal=True)
        check_concurrent_profiles(log_dir, use_signal=False)
        if runner:
            check_concurrent_profiles(log_dir, use_signal=True, runner=runner)
        check_profile_dir(log_dir)
        check_not_debug_ignores_profile(log_dir)
        if django.VERSION < (2, 0):
            check_concurrent_profiles(log_dir, use_signal=True, old_middleware=True)
            check_profile_dir(log_dir, old_middleware=True)
        ok = True
        print('DJANGO LIVE OK')
    finally:
        if ok:
            shutil.rmtree(log_dir, True)
        else:
            print('server logs kept in %s' % log_dir)


if __name__ == '__main__':
    main()
