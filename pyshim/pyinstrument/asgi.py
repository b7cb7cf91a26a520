"""ASGI middleware: profile a request of any ASGI app (FastAPI, Starlette,
Quart, Django's ASGI handler, ...) and get its call tree as HTML.

    from pyinstrument.asgi import ProfilerMiddleware
    app.add_middleware(ProfilerMiddleware,                     # FastAPI, Starlette
                       show_callback=lambda scope: True)
    app = ProfilerMiddleware(app, profile_dir='profiles')      # any ASGI app

The options are the WSGI middleware's (pyinstrument.wsgi): `?profile`
returns the HTML profile when `show_callback(scope)` returns True (or an
awaitable that gives True); closed by default. `profile_dir`, `renderer`,
`filename`, `filename_callback(scope, session, renderer)`, `url_argument`,
`use_signal`, `interval`. Only HTTP requests are profiled (not websockets
or lifespan events). Python 3 only.

What a profile covers: the event loop's thread from the moment the request
reaches the middleware until the app returns, awaits included. Time the
request spends awaiting shows as whatever the thread did meanwhile: the
loop waiting for I/O (the selector), or other tasks' code. So that other
requests do not fill a profile, requests are profiled one at a time per
event loop: a `?profile` request waits for the profiled one before it to
finish; with `profile_dir` alone, a request that arrives while another is
profiled is served unprofiled (on another event loop than asyncio's, such
as trio, any request that arrives meanwhile is). Requests that are not
profiled at all still run meanwhile, and their code can appear in the
profile. Work in other threads is not sampled: a FastAPI/Starlette `def`
(not `async def`) endpoint runs in a thread pool, so only the await for it
appears. Starlette's background tasks run inside the app call, after the
response: they are included (and a `?profile` response waits for them);
tasks the request starts with `asyncio.create_task` are included only
while the request runs.
"""
import asyncio
import logging
import threading
import time
import weakref
from urllib.parse import parse_qs

from pyinstrument import _web

logger = logging.getLogger('pyinstrument')

# One lock per event loop: a profiled request holds it (see the module's doc).
_locks = weakref.WeakKeyDictionary()
# Without an asyncio loop (trio), a request profiled on this thread.
_busy = threading.local()


def _running_loop():
    get = getattr(asyncio, 'get_running_loop', None)
    try:
        return get() if get is not None else asyncio.events._get_running_loop()
    except RuntimeError:
        return None


class _NoLoopGuard(object):
    """For an event loop that is not asyncio's: never waits; a request
    arriving while another is profiled on this thread is not profiled."""

    waits = False

    def locked(self):
        return getattr(_busy, 'profiling', False)

    async def __aenter__(self):
        _busy.profiling = True

    async def __aexit__(self, *exc_info):
        _busy.profiling = False


def _guard():
    loop = _running_loop()
    if loop is None:
        return _NoLoopGuard()
    lock = _locks.get(loop)
    if lock is None:
        lock = _locks[loop] = asyncio.Lock()
    return lock


class ProfilerMiddleware(_web.MiddlewareOptions):
    """`ProfilerMiddleware(app, **options)`, `options` as
    `_web.MiddlewareOptions` takes them (show_callback, profile_dir,
    renderer, filename, filename_callback, url_argument, use_signal,
    interval, all_threads)."""

    async def _wants_profile_page(self, scope):
        query = parse_qs(scope.get('query_string', b'').decode('latin-1'), keep_blank_values=True)
        if self.url_argument not in query or self.show_callback is None:
            return False
        allowed = self.show_callback(scope)
        if hasattr(allowed, '__await__'):
            allowed = await allowed
        return bool(allowed)

    async def __call__(self, scope, receive, send):
        if scope.get('type') != 'http':
            return await self.app(scope, receive, send)
        show = await self._wants_profile_page(scope)
        if not (show or self.profile_dir):
            return await self.app(scope, receive, send)
        guard = _guard()
        if guard.locked() and not (show and getattr(guard, 'waits', True)):
            logger.info('pyinstrument: %s not profiled: another request on this event loop is',
                        scope.get('path'))
            return await self.app(scope, receive, send)
        async with guard:
            profiler = await self._profile(scope, receive, send, show)
        if self.profile_dir:
            _web.save_profile(profiler, self.profile_dir, self.renderer, self.filename,
                              self.filename_callback, scope, scope.get('path', '/'), time.time())
        if show:
            data = profiler.output_html().encode('utf-8')
            await send({'type': 'http.response.start', 'status': 200,
                        'headers': [(b'content-type', b'text/html; charset=utf-8'),
                                    (b'content-length', str(len(data)).encode('ascii')),
                                    (b'cache-control', b'no-store')]})
            await send({'type': 'http.response.body', 'body': data})

    async def _profile(self, scope, receive, send, show):
        async def hold_response(message):
            # With ?profile the app's response is dropped: the profile is
            # the response.
            if not message.get('type', '').startswith('http.response.'):
                await send(message)

        profiler = self.profiler()
        profiler.start()
        try:
            await self.app(scope, receive, hold_response if show else send)
        finally:
            # (a coroutine of asyncio stays on its loop's thread: stop()
            # runs where start() did)
            profiler.stop()
        return profiler
