"""The Python API, on the same native samplers as the `pyinstrument` command.

A Profiler profiles the thread that calls start(), in signal mode (a
per-thread timer; the default) or setprofile mode (use_signal=False). Unlike
pyinstrument 0.13, signal mode works in any thread, so the exceptions below
exist only for code written against the old API.
"""
from __future__ import print_function

import os
import sys

import _pyinstrument as _native
from pyinstrument import _environment


class NotMainThreadError(Exception):
    """Kept for compatibility: signal mode no longer requires the main thread."""


class SignalUnavailableError(Exception):
    """Kept for compatibility: without signals, pyinstrument falls back to
    setprofile mode and says so in the report."""


class Session(object):
    """A finished profile (`Profiler.last_session`): its timing, and the
    whole of it as pyinstrument's JSON (`pyinstrument --load FILE` reads
    what `save` writes)."""

    def __init__(self, json_text):
        import json
        self._json = json_text
        data = json.loads(json_text)
        self.start_time = float(data.get('start_time', 0.0))
        self.duration = float(data.get('duration', 0.0))
        self.cpu_time = float(data.get('cpu_time', 0.0))
        self.sample_count = int(data.get('sample_count', 0))
        self.program = ' '.join(data.get('command_line', []))

    def to_json(self):
        return self._json

    def save(self, filename):
        with open(filename, 'w') as handle:
            handle.write(self._json)

    def __repr__(self):
        return '<pyinstrument Session: %.3f s, %d samples>' % (self.duration, self.sample_count)


class Profiler(object):
    def __init__(self, use_signal=True, interval=0.001, all_threads=False):
        interval = float(interval)
        if not interval > 0:
            raise ValueError('interval must be a positive number of seconds, got %r' % (interval,))
        self.use_signal = bool(use_signal)
        self.interval = interval
        # Every thread of the program, each a root of the report, in either
        # mode, on every CPython.
        self.all_threads = bool(all_threads)
        self._handle = None
        self._session = None

    # -- running ---------------------------------------------------------

    def start(self, caller_frame=None, target_description=None):
        """Starts profiling the calling thread. After a stop(), starting
        again adds to the same profile (as pyinstrument 5 does) until
        reset() is called.

        target_description: what the report's header says was profiled,
        instead of `Program: <command line>`.
        caller_frame: a frame of this thread's stack (as pyinstrument 5
        takes it); the report then starts at its function, leaving out
        the callers above it. By default the report shows the whole path
        from the program's first frame."""
        if self._handle is not None:
            raise RuntimeError('this profiler is already running; call stop() first')
        root = (None, None)
        if caller_frame is not None:
            code = caller_frame.f_code
            root = (code.co_filename, code.co_firstlineno)
        # What the session records about the program is read now, so that
        # stop() has nothing to do while the sampler is still running.
        self._program = (
            [str(a) for a in sys.argv],
            _environment.sys_path(),
            _environment.library_dirs(),
            _environment.python_version(),
            _environment.own_code_dirs(),
            None if target_description is None else str(target_description),
            root[0],
            root[1],
        )
        if self.all_threads:
            self._handle = _native.start(self.use_signal, self.interval, True)
        else:
            self._handle = _native.start(self.use_signal, self.interval)

    def stop(self):
        """Stops profiling; returns the profiler (whose `last_session` now
        includes this run)."""
        if self._handle is None:
            raise RuntimeError('this profiler is not running; call start() first')
        # Raises (and the profiler keeps running) if called from a thread
        # other than the one that called start().
        session = _native.stop(self._handle, *self._program)
        self._handle = None
        if self._session is not None:
            session = _native.combine(self._session, session)
        self._session = session
        return self

    def reset(self):
        """Forgets what was profiled (stopping first if running): the next
        start() begins a new profile."""
        if self._handle is not None:
            self.stop()
        self._session = None

    @property
    def is_running(self):
        return self._handle is not None

    @property
    def last_session(self):
        """The profile recorded so far (every start()/stop() since the last
        reset()), or None."""
        return Session(self._session) if self._session is not None else None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc_info):
        if self._handle is not None:
            self.stop()
        return False

    # -- reports ---------------------------------------------------------

    def _finished_session(self):
        if self._handle is not None:
            raise RuntimeError('the profiler is still running; call stop() before asking for output')
        if self._session is None:
            raise RuntimeError('nothing was profiled yet; call start() and stop() first')
        return self._session

    def output(self, renderer='text', unicode=False, color=False, show_all=False, **options):
        """The report in any of pyinstrument's formats: text, html, json,
        speedscope, collapsed (each a str), or pstats (bytes: the file
        python's `pstats` module and snakeviz read, as `-r pstats`
        writes). `options` are the render options of the command line's
        `-p KEY=VALUE` (see `output_text`)."""
        return _native.render(self._finished_session(), renderer, bool(unicode), bool(color),
                              bool(show_all), _render_options(options))

    def output_text(self, root=False, unicode=False, color=False, show_all=False,
                    timeline=False, **options):
        """The call tree as text, with pyinstrument 5's options: show_all
        (every frame), timeline (calls in time order), time='seconds' or
        'percent_of_total', flat=True, flat_time='self' or 'total',
        filter_threshold (share of the total, default 0.01), hide/show
        (globs), hide_regex/show_regex, remove_importlib,
        remove_tracebackhide, group_library_frames, time_kind='wall' or
        'cpu' (the tree weighted by CPU time); processor_options={...}
        as in pyinstrument 5. root=True is kept for code written for
        pyinstrument 0.13 (the tree always starts at the outermost frame
        now) and means show_all."""
        return self.output('text', unicode=unicode, color=color,
                           show_all=show_all or bool(root), timeline=timeline, **options)

    def output_html(self, root=False, show_all=False, timeline=False, **options):
        """The HTML page; the options are output_text's."""
        return self.output('html', show_all=show_all or bool(root), timeline=timeline, **options)

    def print(self, file=None, unicode=None, color=None, show_all=False, **options):
        """Prints the text report, with unicode and colour when `file` (default
        sys.stdout) is a terminal that supports them; `options` are
        output_text's."""
        file = file if file is not None else sys.stdout
        is_tty = hasattr(file, 'isatty') and file.isatty()
        if unicode is None:
            encoding = (getattr(file, 'encoding', None) or '').lower().replace('_', '-')
            unicode = encoding in ('utf-8', 'utf8')
        if color is None:
            import os
            color = is_tty and not os.environ.get('NO_COLOR') and os.environ.get('TERM') != 'dumb'
        file.write(self.output_text(unicode=unicode, color=color, show_all=show_all, **options))

    def write_html(self, path, **options):
        """Writes the HTML page to `path`; `options` are output_text's."""
        html = self.output_html(**options)
        import io
        with io.open(path, 'w', encoding='utf-8') as handle:
            handle.write(html if not isinstance(html, bytes) else html.decode('utf-8'))
        return path

    def open_in_browser(self, **options):
        """Writes the HTML page to a temporary file and opens it with the
        `webbrowser` module (which honours $BROWSER); returns the file's
        path."""
        import tempfile
        import webbrowser
        handle, path = tempfile.mkstemp(prefix='pyinstrument-', suffix='.html')
        import os
        os.close(handle)
        self.write_html(path, **options)
        webbrowser.open('file://' + path)
        return path

    @property
    def duration(self):
        """Wall-clock seconds profiled (every start()/stop() since reset())."""
        import json
        return float(json.loads(self._finished_session()).get('duration', 0.0))

    def session_json(self):
        """The whole profile as pyinstrument's JSON (loadable with
        `pyinstrument --load FILE`)."""
        return self._finished_session()


def _render_options(options):
    """Keyword options as the `KEY=VALUE` strings `-p` takes, so the native
    side reads them with the command line's parser. pyinstrument 5's
    `processor_options` dict is spread out into its keys."""
    options = dict(options)
    processor_options = options.pop('processor_options', None) or {}
    options.update(processor_options)
    strings = []
    for key in sorted(options):
        value = options[key]
        if value is None:
            continue
        if value is True or value is False:
            value = 'true' if value else 'false'
        strings.append('%s=%s' % (key, value))
    return strings


def profile(function=None, interval=0.001, use_signal=True, file=None, **render_options):
    """Profiles a function (as a decorator, also on `async def` functions)
    or a block (`with pyinstrument.profile():`), and prints a text report to
    `file` (default sys.stderr) each time the call or the block ends.

        @pyinstrument.profile()
        def main(): ...

        with pyinstrument.profile(interval=0.0001, show_all=True):
            ...

    `render_options` are output_text's (show_all, timeline, hide, show,
    time='percent_of_total', flat=True, filter_threshold, unicode, color,
    ...). An async function is profiled from its first step to its return,
    including the time other tasks of its event loop run in between."""
    context = _ProfileContext(interval, use_signal, file, render_options)
    if function is not None:
        return context(function)
    return context


class _ProfileContext(object):
    def __init__(self, interval, use_signal, file, render_options):
        self.interval = interval
        self.use_signal = use_signal
        self.file = file
        self.render_options = render_options
        # A recursive decorated function enters again before it exits.
        self._running = []
        # Checked now, so that a bad option fails where profile() is called.
        Profiler(use_signal=use_signal, interval=interval)

    def __enter__(self):
        profiler = Profiler(use_signal=self.use_signal, interval=self.interval)
        self._running.append(profiler)
        profiler.start()
        return profiler

    def __exit__(self, *exc_info):
        profiler = self._running.pop()
        profiler.stop()
        profiler.print(file=self.file if self.file is not None else sys.stderr,
                       **self.render_options)
        return False

    def __call__(self, function):
        import functools
        if _is_coroutine_function(function):
            wrapper = _WRAPPERS['async_wrapper'](self, function)
        else:
            wrapper = _WRAPPERS['sync_wrapper'](self, function)
        return functools.wraps(function)(wrapper)


def _is_coroutine_function(function):
    if sys.version_info < (3, 5):
        return False
    import inspect
    return inspect.iscoroutinefunction(function)


# The wrappers profile() puts around a function. They are compiled under
# the profiler's own file name, which reports leave out, so that a
# decorated function appears called by its real caller, in the runner and
# in an installed package alike. (`async def` is compiled only where the
# syntax exists.)
_WRAPPER_SOURCE = '''
def sync_wrapper(context, function):
    def wrapper(*args, **kwargs):
        with context:
            return function(*args, **kwargs)
    return wrapper
'''
_ASYNC_WRAPPER_SOURCE = '''
def async_wrapper(context, function):
    async def wrapper(*args, **kwargs):
        with context:
            return await function(*args, **kwargs)
    return wrapper
'''
_WRAPPERS = {}
exec(compile(_WRAPPER_SOURCE + (_ASYNC_WRAPPER_SOURCE if sys.version_info >= (3, 5) else ''),
             '<pyinstrument>/pyinstrument/profile.py', 'exec'), _WRAPPERS)
