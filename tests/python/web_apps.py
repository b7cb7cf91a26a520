"""A Flask app behind pyinstrument's WSGI middleware and (in web_asgi.py,
Python 3 only) a FastAPI app (Starlette where FastAPI is not installed)
behind its ASGI middleware, for tests/python/web_checks.py and
web_live.py. Served with:

    python tests/python/web_apps.py wsgi PORT     (waitress, 4 threads)
    python tests/python/web_apps.py asgi PORT     (uvicorn)

Each view computes (`?seconds=` of CPU time, default 0.2) in a function
with a name no other code has, so that a profile can be checked for whose
it is. The middleware options come from the environment of the
server:
WEBAPPS_USE_SIGNAL=0 selects setprofile mode, WEBAPPS_PROFILE_DIR a
profile folder; `?profile` is allowed only with the header X-Profile-Me:
yes (the show callbacks below).
"""
import os
import sys
import time

WSGI_ALPHA = 'wsgi_alpha_view_spinner_q1'
WSGI_BETA = 'wsgi_beta_view_spinner_k2'
ASGI_ALPHA = 'asgi_alpha_view_spinner_q3'
ASGI_BETA = 'asgi_beta_view_spinner_k4'


# The views compute for `seconds` of the thread's own CPU time (the
# process's before 3.7), not of wall time: on a machine so busy that the
# process gets a few percent of a core, a wall-clock spin can end having
# run almost no code, and rightly leave no sample in the view. Even so, at
# load 5-14 on this 2-core machine about 1 profile in 100 of 0.05 s of CPU
# had no sample in the view (the sampling thread starved): 0.2 s it is.
_cpu_clock = getattr(time, 'thread_time', None) or getattr(time, 'process_time', None) or time.clock


def spin(seconds):
    end = _cpu_clock() + seconds
    while _cpu_clock() < end:
        sum(range(100))


def wsgi_alpha_view_spinner_q1(seconds):
    spin(seconds)


def wsgi_beta_view_spinner_k2(seconds):
    spin(seconds)


def asgi_alpha_view_spinner_q3(seconds):
    spin(seconds)


def asgi_beta_view_spinner_k4(seconds):
    spin(seconds)


def wsgi_allows(environ):
    return environ.get('HTTP_X_PROFILE_ME') == 'yes'


def asgi_allows(scope):
    return (b'x-profile-me', b'yes') in scope.get('headers', [])


def middleware_options(**options):
    settings = dict(use_signal=os.environ.get('WEBAPPS_USE_SIGNAL', '1') == '1',
                    profile_dir=os.environ.get('WEBAPPS_PROFILE_DIR') or None)
    settings.update(options)
    return settings


def flask_app(**options):
    """The Flask app, wrapped: `options` go to the WSGI middleware."""
    import flask
    from pyinstrument.wsgi import ProfilerMiddleware

    app = flask.Flask('webapps_flask')
    app.logger.disabled = True  # the failing view's traceback is expected

    def seconds():
        return float(flask.request.args.get('seconds', '0.2'))

    @app.route('/alpha/')
    def alpha():
        wsgi_alpha_view_spinner_q1(seconds())
        return 'alpha page\n'

    @app.route('/beta/')
    def beta():
        wsgi_beta_view_spinner_k2(seconds())
        return 'beta page\n'

    @app.route('/stream/')
    def stream():
        length = seconds()

        def chunks():
            for index in range(3):
                wsgi_alpha_view_spinner_q1(length / 3)
                yield 'chunk %d\n' % index
        return flask.Response(chunks(), mimetype='text/plain')

    @app.route('/boom/')
    def boom():
        wsgi_alpha_view_spinner_q1(seconds())
        raise RuntimeError('the view failed on purpose')

    @app.route('/<path:anything>')
    def index(anything):
        return 'index page\n'

    app.wsgi_app = ProfilerMiddleware(app.wsgi_app, **middleware_options(**options))
    return app


def exit_with_parent():
    """A server whose test died (killed at its time limit) exits too."""
    import threading
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(3)

    thread = threading.Thread(target=watch)
    thread.daemon = True
    thread.start()


def serve(kind, port):
    exit_with_parent()
    if kind == 'wsgi':
        import waitress
        waitress.serve(flask_app(show_callback=wsgi_allows), host='127.0.0.1', port=port, threads=4,
                       _quiet=True)
    else:
        import uvicorn
        from web_asgi import asgi_app
        _, app = asgi_app(show_callback=asgi_allows)
        uvicorn.run(app, host='127.0.0.1', port=port, log_level='warning')


if __name__ == '__main__':
    serve(sys.argv[1], int(sys.argv[2]))
