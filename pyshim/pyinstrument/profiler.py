"""The Python API, on the same native samplers as the `pyinstrument` command.

A Profiler profiles the thread that calls start(), in signal mode (a
per-thread timer; the default) or setprofile mode (use_signal=False). Unlike
pyinstrument 0.13, signal mode works in any thread, so the exceptions below
exist only for code written against the old API.
"""
from __future__ import print_function

import sys

import _pyinstrument as _native
from pyinstrument import _environment


class NotMainThreadError(Exception):
    """Kept for compatibility: signal mode no longer requires the main thread."""


class SignalUnavailableError(Exception):
    """Kept for compatibility: without signals, pyinstrument falls back to
    setprofile mode and says so in the report."""


class Profiler(object):
    def __init__(self, use_signal=True, interval=0.001):
        interval = float(interval)
        if not interval > 0:
            raise ValueError('interval must be a positive number of seconds, got %r' % (interval,))
        self.use_signal = bool(use_signal)
        self.interval = interval
        self._handle = None
        self._session = None

    # -- running ---------------------------------------------------------

    def start(self):
        if self._handle is not None:
            raise RuntimeError('this profiler is already running; call stop() first')
        self._session = None
        # What the session records about the program is read now, so that
        # stop() has nothing to do while the sampler is still running.
        self._program = (
            [str(a) for a in sys.argv],
            _environment.sys_path(),
            _environment.library_dirs(),
            _environment.python_version(),
        )
        self._handle = _native.start(self.use_signal, self.interval)

    def stop(self):
        if self._handle is None:
            raise RuntimeError('this profiler is not running; call start() first')
        command_line, sys_path, library_dirs, python_version = self._program
        # Raises (and the profiler keeps running) if called from a thread
        # other than the one that called start().
        self._session = _native.stop(self._handle, command_line, sys_path, library_dirs, python_version)
        self._handle = None
        return self

    @property
    def is_running(self):
        return self._handle is not None

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

    def output(self, renderer='text', unicode=False, color=False, show_all=False):
        """The report in any of pyinstrument's formats: text, html, json,
        speedscope, collapsed."""
        return _native.render(self._finished_session(), renderer, bool(unicode), bool(color), bool(show_all))

    def output_text(self, root=False, unicode=False, color=False, show_all=False):
        """The call tree as text. root=True (like show_all) starts at the
        outermost frame instead of the first frame with several children."""
        return self.output('text', unicode=unicode, color=color, show_all=show_all or bool(root))

    def output_html(self, root=False):
        return self.output('html', show_all=bool(root))

    def print(self, file=None, unicode=None, color=None, show_all=False):
        """Prints the text report, with unicode and colour when `file` (default
        sys.stdout) is a terminal that supports them."""
        file = file if file is not None else sys.stdout
        is_tty = hasattr(file, 'isatty') and file.isatty()
        if unicode is None:
            encoding = (getattr(file, 'encoding', None) or '').lower().replace('_', '-')
            unicode = encoding in ('utf-8', 'utf8')
        if color is None:
            import os
            color = is_tty and not os.environ.get('NO_COLOR') and os.environ.get('TERM') != 'dumb'
        file.write(self.output_text(unicode=unicode, color=color, show_all=show_all))

    @property
    def duration(self):
        """Wall-clock seconds profiled by the last start()/stop()."""
        import json
        return float(json.loads(self._finished_session()).get('duration', 0.0))

    def session_json(self):
        """The whole profile as pyinstrument's JSON (loadable with
        `pyinstrument --load FILE`)."""
        return self._finished_session()
