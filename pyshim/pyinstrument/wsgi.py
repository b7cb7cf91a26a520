"""WSGI middleware: profile a request of any WSGI app (Flask, Bottle,
Pyramid, Falcon, ...) and get its call tree as HTML.

    from pyinstrument.wsgi import ProfilerMiddleware
    app.wsgi_app = ProfilerMiddleware(app.wsgi_app,            # Flask
                                      show_callback=lambda environ: True)

- `?profile` on a URL returns that request's HTML profile instead of the
  page, when `show_callback(environ)` returns True. Closed by default:
  without a show_callback, `?profile` is ignored and the page is served.
  Profiles show code, file paths and timings: never make them available to
  anyone on a production site.
- `profile_dir='profiles'` saves a profile of every request in that folder
  (created if missing), one new file per request, in the format `renderer`
  names ('html' by default; 'text', 'json', 'speedscope', 'collapsed'),
  named by `filename` (a template, default '{total_time:.3f}s {path}
  {timestamp:.0f}.{ext}') or by `filename_callback(environ, session,
  renderer)`: the Django middleware's settings, as arguments.
- `url_argument` (default 'profile'), `use_signal` (False: setprofile
  mode) and `interval` (seconds, default 0.001).

A profile covers the thread that serves the request, from the call of the
app to the end of its response body (which is read whole, then sent: a
profiled response is not streamed). Requests served at the same time by
threads of a threaded server (waitress, gunicorn --threads, the Flask
development server) are each profiled on their own thread, without mixing.
A server that runs several requests on one thread (gevent, eventlet) gets
one profiled request per thread at a time; the others are served
unprofiled.
"""
import threading
import time

from pyinstrument import _web

try:
    from urllib.parse import parse_qs
except ImportError:  # Python 2
    from urlparse import parse_qs

# Whether this thread is profiling a request (see the module's doc).
_busy = threading.local()


class ProfilerMiddleware(_web.MiddlewareOptions):
    """`ProfilerMiddleware(app, **options)`, `options` as
    `_web.MiddlewareOptions` takes them (show_callback, profile_dir,
    renderer, filename, filename_callback, url_argument, use_signal,
    interval, all_threads)."""

    def _wants_profile_page(self, environ):
        query = parse_qs(environ.get('QUERY_STRING', ''), keep_blank_values=True)
        if self.url_argument not in query or self.show_callback is None:
            return False
        return bool(self.show_callback(environ))

    def __call__(self, environ, start_response):
        show = self._wants_profile_page(environ)
        if not (show or self.profile_dir) or getattr(_busy, 'profiling', False):
            return self.app(environ, start_response)

        # With ?profile the app's own status and headers are dropped (none
        # has reached the server yet, so an error page may replace them as
        # often as the app likes): the response is the profile.
        def start_app_response(status, headers, exc_info=None):
            if show:
                return body.append
            return start_response(status, headers, exc_info)

        body = []
        profiler = self.profiler()
        _busy.profiling = True
        try:
            profiler.start()
            try:
                result = self.app(environ, start_app_response)
                try:
                    for chunk in result:
                        body.append(chunk)
                finally:
                    close = getattr(result, 'close', None)
                    if close is not None:
                        close()
            finally:
                profiler.stop()
        finally:
            _busy.profiling = False

        if self.profile_dir:
            _web.save_profile(profiler, self.profile_dir, self.renderer, self.filename,
                              self.filename_callback, environ, environ.get('PATH_INFO', '/'),
                              time.time())
        if not show:
            return body
        html = profiler.output_html()
        data = html if isinstance(html, bytes) else html.encode('utf-8')
        start_response('200 OK', [('Content-Type', 'text/html; charset=utf-8'),
                                  ('Content-Length', str(len(data))),
                                  ('Cache-Control', 'no-store')])
        return [data]

