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

# How long a profiled function spins when a check looks for it in the
# report: long enough to be sampled on a busy machine, where the profiled
# and the sampling thread can both wait tens of milliseconds for a CPU
# (spins of 20-50 ms went unsampled at load 11 on 2 cores).
SPIN = 0.25


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
    api_spin_main_x1(SPIN)
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
        api_spin_main_x1(SPIN)
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
    # Restartable (what a second run adds: check_restart_and_reset).
    profiler.start()
    api_spin_main_x1(SPIN)
    profiler.stop()
    assert 'api_spin_main_x1' in profiler.output_text()


def api_second_run_x3(seconds):
    api_spin_main_x1(seconds)


def check_restart_and_reset():
    """As in pyinstrument 5: start() after stop() adds to the same session;
    reset() starts a new one."""
    profiler = Profiler()
    assert profiler.last_session is None
    profiler.start()
    api_spin_main_x1(SPIN)
    profiler.stop()
    first = profiler.last_session
    assert first.duration > 0.04 and first.sample_count > 0, first
    profiler.start()
    api_second_run_x3(SPIN)
    profiler.stop()
    both = profiler.last_session
    assert both.sample_count > first.sample_count, (both, first)
    # The second run's SPIN seconds were added to the first's.
    assert both.duration - first.duration >= 0.9 * SPIN, (both.duration, first.duration)
    text = profiler.output_text()
    assert 'api_spin_main_x1' in text and 'api_second_run_x3' in text, text
    # The saved session holds both runs, and loads.
    saved = json.loads(both.to_json())
    assert saved['sample_count'] == both.sample_count
    profiler.reset()
    assert profiler.last_session is None and not profiler.is_running
    expect_error(RuntimeError, profiler.output_text)
    profiler.start()
    api_second_run_x3(0.01)
    profiler.reset()  # stops a running profiler too
    assert not profiler.is_running and profiler.last_session is None
    profiler.start()
    api_second_run_x3(SPIN / 2)
    profiler.stop()
    after_reset = profiler.last_session
    # The two runs before reset() are gone (they alone took 2 * SPIN).
    assert after_reset.duration < both.duration, (after_reset, both)
    text = profiler.output_text()
    assert 'api_second_run_x3' in text, text
    # Only the second run's call under check_restart_and_reset.
    assert text.count('api_spin_main_x1') == 1, text


def _text_file():
    # A text file for native strings (bytes on Python 2, like sys.stderr).
    if sys.version_info[0] == 2:
        import StringIO
        return StringIO.StringIO()
    return io.StringIO()


def api_decorated_x4(seconds):
    api_spin_main_x1(seconds)
    return 'result'


def check_profile_decorator_and_block():
    import pyinstrument
    out = _text_file()
    decorated = pyinstrument.profile(file=out)(api_decorated_x4)
    assert decorated.__name__ == 'api_decorated_x4'
    assert decorated(SPIN) == 'result'
    report = out.getvalue()
    assert 'api_decorated_x4' in report and 'api_spin_main_x1' in report, report
    # The decorator's own frames never show: the caller calls the function.
    assert 'wrapper' not in report and '__enter__' not in report, report
    # Each call reports; render options apply.
    decorated(SPIN)
    assert out.getvalue().count('api_decorated_x4') >= 2, out.getvalue()
    out = _text_file()
    pyinstrument.profile(file=out, time='percent_of_total')(api_decorated_x4)(SPIN)
    assert '%' in out.getvalue(), out.getvalue()
    # Default: the report goes to stderr.
    saved, sys.stderr = sys.stderr, _text_file()
    try:
        with pyinstrument.profile(use_signal=False, interval=0.0005):
            api_decorated_x4(SPIN)
        report = sys.stderr.getvalue()
    finally:
        sys.stderr = saved
    assert 'api_decorated_x4' in report and 'setprofile' in report, report
    # An exception propagates, and the report is still printed.
    out = _text_file()
    try:
        with pyinstrument.profile(file=out):
            api_spin_main_x1(SPIN)
            raise KeyError('inside')
    except KeyError:
        pass
    else:
        raise AssertionError('the exception was swallowed')
    assert 'api_spin_main_x1' in out.getvalue(), out.getvalue()
    expect_error(ValueError, pyinstrument.profile, None, 0)
    if sys.version_info >= (3, 7):
        check_profile_async()


def check_profile_async():
    import asyncio
    import inspect
    import pyinstrument
    namespace = {'api_spin_main_x1': api_spin_main_x1, 'asyncio': asyncio, 'SPIN': SPIN}
    # (async def is a syntax error on Python 2: compiled only here.)
    source = ('async def api_async_x5():\n'
              '    api_spin_main_x1(SPIN)\n'
              '    await asyncio.sleep(0.02)\n'
              '    return 5\n')
    exec(compile(source, __file__, 'exec'), namespace)
    out = _text_file()
    decorated = pyinstrument.profile(file=out)(namespace['api_async_x5'])
    assert inspect.iscoroutinefunction(decorated)
    assert asyncio.run(decorated()) == 5
    report = out.getvalue()
    assert 'api_async_x5' in report and 'api_spin_main_x1' in report, report
    duration = float(report.split('Duration:')[1].split()[0])
    assert duration >= 0.045, report  # the await is inside the profile


def check_html_files():
    import os
    import shutil
    import tempfile
    directory = tempfile.mkdtemp()
    try:
        profiler = Profiler()
        profiler.start()
        api_spin_main_x1(SPIN)
        profiler.stop()
        path = os.path.join(directory, 'report.html')
        assert profiler.write_html(path) == path
        with io.open(path, encoding='utf-8') as handle:
            page = handle.read()
        assert 'api_spin_main_x1' in page and '<html' in page.lower(), page[:200]
        # open_in_browser: webbrowser honours $BROWSER; a fake browser
        # records the address it was given.
        opened = os.path.join(directory, 'opened.txt')
        browser = os.path.join(directory, 'browser.py')
        with open(browser, 'w') as handle:
            handle.write('import sys\nopen(%r, "w").write(sys.argv[1])\n' % opened)
        os.environ['BROWSER'] = '%s %s %%s' % (sys.executable, browser)
        import webbrowser
        if sys.version_info >= (3, 7) and getattr(webbrowser, '_tryorder', None) is not None:
            # Browsers were registered before $BROWSER was set: 3.7+
            # registers them again, from $BROWSER, when this is None.
            webbrowser._tryorder = None
        page_path = profiler.open_in_browser()
        with open(opened) as handle:
            address = handle.read()
        assert address == 'file://' + page_path, (address, page_path)
        with io.open(page_path, encoding='utf-8') as handle:
            assert 'api_spin_main_x1' in handle.read()
        os.unlink(page_path)
    finally:
        os.environ.pop('BROWSER', None)
        shutil.rmtree(directory)


def api_rooted_x7(profiler):
    # The report starts here: this function's callers are left out.
    profiler.start(caller_frame=sys._getframe())
    api_spin_main_x1(0.05)
    profiler.stop()


def check_description_root_and_pstats():
    """start(target_description=..., caller_frame=...) and output('pstats')."""
    import marshal
    import os
    import pstats
    import tempfile
    profiler = Profiler()
    profiler.start(target_description='the description\'s <test>')
    api_spin_main_x1(0.05)
    profiler.stop()
    text = profiler.output_text()
    assert text.startswith("the description's <test>\n"), text
    assert 'Program:' not in text, text
    assert 'the description&#x27;s &lt;test&gt;' in profiler.output_html() or \
        "the description's &lt;test&gt;" in profiler.output_html()
    assert json.loads(profiler.output('json'))['target_description'] == "the description's <test>"
    # The default header is the command line.
    default = Profiler()
    default.start()
    api_spin_main_x1(0.02)
    default.stop()
    assert default.output_text().startswith('Program: '), default.output_text()

    stats_bytes = profiler.output('pstats')
    assert isinstance(stats_bytes, bytes), type(stats_bytes)
    entries = marshal.loads(stats_bytes)
    assert any(key[2] == 'api_spin_main_x1' for key in entries), list(entries)[:5]
    handle, path = tempfile.mkstemp(suffix='.pstats')
    try:
        with os.fdopen(handle, 'wb') as out:
            out.write(stats_bytes)
        stats = pstats.Stats(path)
        assert any(key[2] == 'api_spin_main_x1' for key in stats.stats), list(stats.stats)[:5]
    finally:
        os.unlink(path)

    rooted = Profiler()
    api_rooted_x7(rooted)
    text = rooted.output_text(show_all=True)
    tree = text.split('\n\n', 1)[1].strip().splitlines()
    assert 'api_rooted_x7' in tree[0], text
    assert 'check_description_root_and_pstats' not in text and '<module>' not in text, text
    assert 'api_spin_main_x1' in text, text
    # Profiler.start/stop never show, whichever way the package was loaded.
    for frames in (text, profiler.output_text(show_all=True)):
        assert 'Profiler.st' not in frames and 'profiler.py' not in frames, frames


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


def check_all_threads():
    """Profiler(all_threads=True), signal mode, on every CPython (2.7 and
    3.6 too): each thread is a root of the report, under its name."""
    profiler = Profiler(all_threads=True)
    profiler.start()
    worker = threading.Thread(target=api_spin_thread_x2, args=(0.1,), name='api-worker')
    worker.start()
    api_spin_main_x1(0.1)
    worker.join(30)
    profiler.stop()
    text = profiler.output_text()
    assert "Thread 'api-worker' (tid " in text and "Thread 'MainThread' (tid " in text, text
    assert 'api_spin_thread_x2' in text and 'api_spin_main_x1' in text, text
    # No thread of ours is left for threading to see.
    assert [t.name for t in threading.enumerate()] == ['MainThread'], threading.enumerate()


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
    check_all_threads()
    check_context_manager()
    check_errors()
    check_stop_from_another_thread()
    check_restart_and_reset()
    check_profile_decorator_and_block()
    check_html_files()
    check_description_root_and_pstats()
    print('API OK (Python %d.%d)' % sys.version_info[:2])


if __name__ == '__main__':
    main()
