"""Checks of the Python API (`from pyinstrument import Profiler`), the same
in plain python (after the install) and inside the runner
(`pyinstrument tests/python/api_checks.py`). Prints 'API OK' and exits 0 when
everything passed; the first failure raises."""
from __future__ import print_function

import io
import json
import sys
import threading
import time

from pyinstrument import Profiler
from pyinstrument.profiler import NotMainThreadError, SignalUnavailableError  # noqa: F401 (the seed's names)


def api_spin_main_x1(seconds):
    end = time.time() + seconds
    while time.time() < end:
        pass


def api_spin_thread_x2(seconds):
    end = time.time() + seconds
    while time.time() < end:
        pass


def expect_error(kind, function, *args):
    try:
        function(*args)
    except kind as error:
        assert str(error), 'an empty message'
        return error
    raise AssertionError('%s did not raise %s' % (getattr(function, '__name__', function), kind.__name__))


def check_basic(use_signal):
    profiler = Profiler(use_signal=use_signal)
    assert not profiler.is_running
    profiler.start()
    assert profiler.is_running
    api_spin_main_x1(0.1)
    profiler.stop()
    assert not profiler.is_running
    text = profiler.output_text()
    assert 'api_spin_main_x1' in text, text
    assert 'api_spin_main_x1' in profiler.output_text(unicode=True, color=True)
    assert 'api_spin_main_x1' in profiler.output_text(root=True)
    html = profiler.output_html()
    assert 'api_spin_main_x1' in html and '<html' in html.lower(), html[:300]
    assert 'api_spin_main_x1' in profiler.output_html(root=True)
    session = json.loads(profiler.output('json'))
    assert session['mode'] == ('signal' if use_signal else 'setprofile'), session['mode']
    # CPU time per stack, and the tree weighted by it (issue 16).
    assert len(session['stack_cpu_times']) == len(session['stacks']), session.keys()
    assert session['thread_cpu_time'] > 0.0, session['thread_cpu_time']
    cpu_text = profiler.output_text(time_kind='cpu')
    assert "times are the profiled thread's CPU time" in cpu_text, cpu_text
    expect_error(ValueError, lambda: profiler.output_text(time_kind='process'))
    assert profiler.duration > 0.05, profiler.duration
    # A text file for native strings: io.StringIO takes only unicode on
    # Python 2, where the report is a native (byte) str as for sys.stdout.
    if sys.version_info[0] == 2:
        import StringIO
        out = StringIO.StringIO()
    else:
        out = io.StringIO()
    profiler.print(file=out)
    assert 'api_spin_main_x1' in out.getvalue()


def check_context_manager():
    with Profiler() as profiler:
        api_spin_main_x1(0.05)
    assert not profiler.is_running
    assert 'api_spin_main_x1' in profiler.output_text()
    # An exception inside the block stops the profiler and propagates.
    try:
        with Profiler(use_signal=False) as failing:
            raise KeyError('inside')
    except KeyError:
        pass
    else:
        raise AssertionError('the exception was swallowed')
    assert not failing.is_running


def check_errors():
    profiler = Profiler()
    expect_error(RuntimeError, profiler.stop)
    expect_error(RuntimeError, profiler.output_text)
    expect_error(RuntimeError, profiler.output_html)
    profiler.start()
    expect_error(RuntimeError, profiler.start)
    expect_error(RuntimeError, profiler.output_text)
    expect_error(RuntimeError, profiler.output_html)
    profiler.stop()
    expect_error(RuntimeError, profiler.stop)
    profiler.output_text()
    expect_error(ValueError, Profiler, True, 0)
    expect_error(ValueError, Profiler, True, -1)
    expect_error(ValueError, profiler.output, 'no-such-renderer')
    # Restartable: a second run replaces the first.
    profiler.start()
    api_spin_main_x1(0.02)
    profiler.stop()
    assert 'api_spin_main_x1' in profiler.output_text()


def check_threads(use_signal):
    """A profiler started in a thread sees that thread only; the main
    thread's own profiler, running at the same time, sees the main thread."""
    results = {}

    def worker():
        p = Profiler(use_signal=use_signal)
        p.start()
        api_spin_thread_x2(0.2)
        p.stop()
        results['text'] = p.output_text()

    main = Profiler(use_signal=use_signal)
    main.start()
    thread = threading.Thread(target=worker)
    thread.start()
    api_spin_main_x1(0.2)
    thread.join(30)
    main.stop()
    assert 'api_spin_thread_x2' in results['text'] and 'api_spin_main_x1' not in results['text'], results['text']
    main_text = main.output_text()
    assert 'api_spin_main_x1' in main_text and 'api_spin_thread_x2' not in main_text, main_text


def check_stop_from_another_thread():
    profiler = Profiler()
    profiler.start()
    errors = []

    def other():
        try:
            profiler.stop()
        except RuntimeError as error:
            errors.append(error)

    thread = threading.Thread(target=other)
    thread.start()
    thread.join(30)
    assert errors, 'stop() from another thread did not raise'
    assert profiler.is_running
    profiler.stop()
    profiler.output_text()


def main():
    for use_signal in (True, False):
        check_basic(use_signal)
        check_threads(use_signal)
    check_context_manager()
    check_errors()
    check_stop_from_another_thread()
    print('API OK (Python %d.%d)' % sys.version_info[:2])


if __name__ == '__main__':
    main()
