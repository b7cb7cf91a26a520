"""Django middleware: profile a request and get its call tree as HTML.

Add 'pyinstrument.middleware.ProfilerMiddleware' to MIDDLEWARE (or to
MIDDLEWARE_CLASSES on old Django), first in the list to include the other
middleware in the profile.

- `?profile` on a URL returns that request's HTML profile instead of the page
  (the argument's name is PYINSTRUMENT_URL_ARGUMENT, default 'profile').
- PYINSTRUMENT_PROFILE_DIR = 'profiles' saves an HTML profile of every
  request in that folder (created if missing), one new file per request.
- PYINSTRUMENT_USE_SIGNAL = False selects setprofile mode;
  PYINSTRUMENT_INTERVAL sets the sampling interval in seconds (default 0.001).

Secure by default: nothing is profiled unless settings.DEBUG is True or, when
PYINSTRUMENT_SHOW_CALLBACK is set (a callable, or its dotted path, given the
request), it returns True; the callback then decides instead of DEBUG.
Otherwise `?profile` is ignored and the page is served as usual. Profiles
show code, file paths and timings: never make them available to anyone on a
production site.

Each request's profile covers the thread that handles it, and only that
thread, so requests served at the same time by a threaded server are
profiled at the same time without mixing.
"""
import logging
import os
import re
import threading
import time

from django.conf import settings
from django.http import HttpResponse

from pyinstrument.profiler import Profiler

try:
    from django.utils.module_loading import import_string
except ImportError:  # Django < 1.7
    from django.utils.module_loading import import_by_path as import_string

logger = logging.getLogger('pyinstrument')

MAX_PATH_PART = 100
_REQUEST_ATTRIBUTE = '_pyinstrument_profiler'

try:
    _string_types = (str, unicode)  # noqa: F821 (Python 2)
except NameError:
    _string_types = (str,)


def _setting(name, default):
    return getattr(settings, name, default)


def _profiling_allowed(request):
    callback = _setting('PYINSTRUMENT_SHOW_CALLBACK', None)
    if callback is not None:
        if isinstance(callback, _string_types):
            callback = import_string(callback)
        return bool(callback(request))
    return bool(_setting('DEBUG', False))


def _profile_file_stem(total_time, path, timestamp):
    """The seed's '{total_time:.3f}s {path} {timestamp:.0f}', made safe: the
    URL path contributes only letters, digits, '_', '-' and single dots
    (no separators, no '..'), at most MAX_PATH_PART characters of it."""
    safe_path = re.sub(r'[^A-Za-z0-9_.-]+', '_', path.strip('/'))
    safe_path = re.sub(r'_{2,}', '_', re.sub(r'\.{2,}', '_', safe_path))[:MAX_PATH_PART] or 'root'
    return '{total_time:.3f}s {path} {timestamp:.0f}'.format(
        total_time=total_time, path=safe_path, timestamp=timestamp)


def _write_new_file(directory, stem, content):
    """Writes content to a new file named after stem, adding ' (N)' when that
    name is taken: the file is created with O_EXCL, so another request's
    profile is never overwritten, even by a request finishing at the same time."""
    try:
        os.makedirs(directory)
    except OSError:
        if not os.path.isdir(directory):
            raise
    # The report is a native str: text on Python 3, UTF-8 bytes on Python 2.
    data = content if isinstance(content, bytes) else content.encode('utf-8')
    for attempt in range(10000):
        suffix = '' if attempt == 0 else ' (%d)' % attempt
        path = os.path.join(directory, stem + suffix + '.html')
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except OSError:
            if os.path.lexists(path):
                continue
            raise
        with os.fdopen(fd, 'wb') as handle:
            handle.write(data)
        return path
    raise IOError('no free file name for %r in %r' % (stem, directory))


# The profiler running on each thread, so that one left running by a request
# whose response never reached this middleware (an exception in another
# middleware, on old Django) is stopped instead of sampling forever.
_running = threading.local()


def _discard_stale_profiler():
    profiler = getattr(_running, 'profiler', None)
    _running.profiler = None
    if profiler is not None and profiler.is_running:
        try:
            profiler.stop()
        except Exception:
            pass


def _on_request_finished(sender=None, **kwargs):
    _discard_stale_profiler()


try:
    from django.core.signals import request_finished
    request_finished.connect(_on_request_finished, dispatch_uid='pyinstrument.middleware.stale_profiler')
except Exception:  # pragma: no cover
    pass


class ProfilerMiddleware(object):
    """New-style (MIDDLEWARE) and old-style (MIDDLEWARE_CLASSES) middleware."""

    sync_capable = True
    async_capable = False

    def __init__(self, get_response=None):
        self.get_response = get_response

    # -- new style: MIDDLEWARE ------------------------------------------------

    def __call__(self, request):
        profiler = self._start(request)
        if profiler is None:
            return self.get_response(request)
        try:
            response = self.get_response(request)
        finally:
            self._stop(profiler)
        return self._finish(request, profiler, response)

    # -- old style: MIDDLEWARE_CLASSES ----------------------------------------

    def process_request(self, request):
        profiler = self._start(request)
        if profiler is not None:
            setattr(request, _REQUEST_ATTRIBUTE, profiler)
        return None

    def process_response(self, request, response):
        profiler = getattr(request, _REQUEST_ATTRIBUTE, None)
        if profiler is None:
            return response
        setattr(request, _REQUEST_ATTRIBUTE, None)
        if not self._stop(profiler):
            return response
        return self._finish(request, profiler, response)

    # -- both -------------------------------------------------------------------

    def _start(self, request):
        """Starts profiling this request's thread if it asks for it and is
        allowed to; returns the running profiler, or None."""
        url_argument = _setting('PYINSTRUMENT_URL_ARGUMENT', 'profile')
        wanted = url_argument in request.GET or bool(_setting('PYINSTRUMENT_PROFILE_DIR', None))
        if not wanted or not _profiling_allowed(request):
            return None
        _discard_stale_profiler()
        profiler = Profiler(
            use_signal=bool(_setting('PYINSTRUMENT_USE_SIGNAL', True)),
            interval=float(_setting('PYINSTRUMENT_INTERVAL', 0.001)),
            all_threads=bool(_setting('PYINSTRUMENT_ALL_THREADS', os.environ.get('PYINSTRUMENT_ALL_THREADS', '') not in ('', '0'))),
        )
        profiler.start()
        _running.profiler = profiler
        return profiler

    def _stop(self, profiler):
        if getattr(_running, 'profiler', None) is profiler:
            _running.profiler = None
        if not profiler.is_running:
            return False
        profiler.stop()
        return True

    def _finish(self, request, profiler, response):
        html = profiler.output_html()

        profile_dir = _setting('PYINSTRUMENT_PROFILE_DIR', None)
        if profile_dir:
            stem = _profile_file_stem(profiler.duration, request.path, time.time())
            try:
                _write_new_file(profile_dir, stem, html)
            except (IOError, OSError) as error:
                logger.error('pyinstrument: could not save the profile of %s in %s: %s',
                             request.path, profile_dir, error)

        if _setting('PYINSTRUMENT_URL_ARGUMENT', 'profile') in request.GET:
            profile_response = HttpResponse(html, content_type='text/html; charset=utf-8')
            profile_response['Cache-Control'] = 'no-store'
            return profile_response
        return response
