"""Django middleware: profile a request and get its call tree as HTML.

Add 'pyinstrument.middleware.ProfilerMiddleware' to MIDDLEWARE (or the old
MIDDLEWARE_CLASSES), first in the list to include the other middleware.

- `?profile` on a URL returns that request's HTML profile instead of the page
  (the argument's name is PYINSTRUMENT_URL_ARGUMENT, default 'profile').
- PYINSTRUMENT_PROFILE_DIR = 'profiles' saves an HTML profile of every
  request in that folder.
- PYINSTRUMENT_USE_SIGNAL = False selects setprofile mode;
  PYINSTRUMENT_INTERVAL sets the sampling interval in seconds.

Secure by default: nothing is profiled unless settings.DEBUG is True or
PYINSTRUMENT_SHOW_CALLBACK (a callable, or its dotted path, given the
request) returns True. Profiles show code, paths and timings; they must not
be available to anyone on a production site.
"""
import json
import os
import re
import time

from django.conf import settings
from django.http import HttpResponse

from pyinstrument.profiler import Profiler

try:
    from django.utils.deprecation import MiddlewareMixin
except ImportError:  # Django < 1.10: old-style middleware only
    MiddlewareMixin = object

try:
    from django.utils.module_loading import import_string
except ImportError:  # very old Django
    from django.utils.module_loading import import_by_path as import_string

MAX_PATH_PART = 100


def _show_callback():
    callback = getattr(settings, 'PYINSTRUMENT_SHOW_CALLBACK', None)
    if isinstance(callback, str):
        callback = import_string(callback)
    return callback


def _profiling_allowed(request):
    callback = _show_callback()
    if callback is not None:
        return bool(callback(request))
    return bool(getattr(settings, 'DEBUG', False))


def _profile_file_name(total_time, path, timestamp):
    """The seed's '{total_time:.3f}s {path} {timestamp:.0f}.html', made safe:
    no separators or '..' from the URL, and bounded in length."""
    safe_path = re.sub(r'[^A-Za-z0-9_.-]+', '_', path.strip('/')) or 'root'
    safe_path = safe_path.replace('..', '_')[:MAX_PATH_PART]
    return '{total_time:.3f}s {path} {timestamp:.0f}'.format(
        total_time=total_time, path=safe_path, timestamp=timestamp)


def _write_new_file(directory, stem, content):
    """Writes content to a file named after stem that did not exist before
    (a counter is added on collision), atomically created with O_EXCL."""
    if not os.path.isdir(directory):
        os.makedirs(directory)
    data = content.encode('utf-8')
    for attempt in range(1000):
        suffix = '' if attempt == 0 else ' (%d)' % attempt
        path = os.path.join(directory, stem + suffix + '.html')
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except OSError as error:
            if os.path.exists(path):
                continue
            raise error
        with os.fdopen(fd, 'wb') as handle:
            handle.write(data)
        return path
    raise IOError('could not find a free file name for %r in %r' % (stem, directory))


class ProfilerMiddleware(MiddlewareMixin):
    def process_request(self, request):
        url_argument = getattr(settings, 'PYINSTRUMENT_URL_ARGUMENT', 'profile')
        profile_dir = getattr(settings, 'PYINSTRUMENT_PROFILE_DIR', None)
        wants_profile = url_argument in request.GET or profile_dir
        if not wants_profile or not _profiling_allowed(request):
            return None
        profiler = Profiler(
            use_signal=getattr(settings, 'PYINSTRUMENT_USE_SIGNAL', True),
            interval=getattr(settings, 'PYINSTRUMENT_INTERVAL', 0.001),
        )
        profiler.start()
        request._pyinstrument_profiler = profiler
        return None

    def process_response(self, request, response):
        profiler = getattr(request, '_pyinstrument_profiler', None)
        if profiler is None or not profiler.is_running:
            return response
        profiler.stop()
        html = profiler.output_html()

        profile_dir = getattr(settings, 'PYINSTRUMENT_PROFILE_DIR', None)
        if profile_dir:
            duration = json.loads(profiler.session_json()).get('duration', 0.0)
            stem = _profile_file_name(duration, request.path, time.time())
            _write_new_file(profile_dir, stem, html)

        url_argument = getattr(settings, 'PYINSTRUMENT_URL_ARGUMENT', 'profile')
        if url_argument in request.GET:
            return HttpResponse(html)
        return response
