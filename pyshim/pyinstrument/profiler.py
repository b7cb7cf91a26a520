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

    def output(self, renderer='text', unicode=False, color=False, show_all=False, **options):
        """The report in any of pyinstrument's formats: text, html, json,
        speedscope, collapsed. `options` are the render options of the
        command line's `-p KEY=VALUE` (see `output_text`)."""
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

    @property
    def duration(self):
        """Wall-clock seconds profiled by the last start()/stop()."""
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
