"""Django middleware: profile a request and get its call tree as HTML.

Add 'pyinstrument.middleware.ProfilerMiddleware' to MIDDLEWARE (or to
MIDDLEWARE_CLASSES on old Django), first in the list to include the other
middleware in the profile.

- `?profile` on a URL returns that request's HTML profile instead of the page
  (the argument's name is PYINSTRUMENT_URL_ARGUMENT, default 'profile').
- PYINSTRUMENT_PROFILE_DIR = 'profiles' saves an HTML profile of every
  request in that folder (created if missing), one new file per request
  (a name already taken gets ' (N)' added: no profile is overwritten).
  As in pyinstrument 5: PYINSTRUMENT_PROFILE_DIR_RENDERER picks the format
  of the files ('html', 'text', 'json', 'speedscope', 'collapsed', or
  pyinstrument 5's renderer class paths such as
  'pyinstrument.renderers.SpeedscopeRenderer'); PYINSTRUMENT_FILENAME is
  the files' name template (default '{total_time:.3f}s {path}
  {timestamp:.0f}.{ext}', where {path} is the URL path made safe for a file
  name); PYINSTRUMENT_FILENAME_CALLBACK (a callable or its dotted path)
  names the file instead: callback(request, session, renderer) returns a
  name inside the folder (`renderer.output_file_extension` is the
  extension, `session.duration` the profiled time).
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
import threading
import time

from django.conf import settings
from django.http import HttpResponse

from pyinstrument import _web
from pyinstrument.profiler import Profiler

_REQUEST_ATTRIBUTE = '_pyinstrument_profiler'


def _setting(name, default):
    return getattr(settings, name, default)


def _profiling_allowed(request):
    callback = _web.resolve_callable(_setting('PYINSTRUMENT_SHOW_CALLBACK', None))
    if callback is not None:
        return bool(callback(request))
    return bool(_setting('DEBUG', False))


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
        if _setting('PYINSTRUMENT_PROFILE_DIR', None):
            _saving_renderer()  # a bad setting fails before anything runs
        _discard_stale_profiler()
        profiler = Profiler(
            use_signal=bool(_setting('PYINSTRUMENT_USE_SIGNAL', True)),
            interval=float(_setting('PYINSTRUMENT_INTERVAL', 0.001)),
            all_threads=bool(_setting('PYINSTRUMENT_ALL_THREADS', _web.all_threads_from_environment())),
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
            _web.save_profile(
                profiler, profile_dir, _saving_renderer(),
                template=_setting('PYINSTRUMENT_FILENAME', None),
                callback=_web.resolve_callable(_setting('PYINSTRUMENT_FILENAME_CALLBACK', None)),
                request=request, path=request.path, timestamp=time.time())

        if _setting('PYINSTRUMENT_URL_ARGUMENT', 'profile') in request.GET:
            profile_response = HttpResponse(html, content_type='text/html; charset=utf-8')
            profile_response['Cache-Control'] = 'no-store'
            return profile_response
        return response


def _saving_renderer():
    """PYINSTRUMENT_PROFILE_DIR_RENDERER's renderer (HTML by default)."""
    try:
        return _web.renderer(_setting('PYINSTRUMENT_PROFILE_DIR_RENDERER', None))
    except ValueError as error:
        from django.core.exceptions import ImproperlyConfigured
        raise ImproperlyConfigured('PYINSTRUMENT_PROFILE_DIR_RENDERER: %s' % error)
