"""The IPython / Jupyter extension:

    %load_ext pyinstrument

    %pyinstrument [options] statement        profiles one statement
    %%pyinstrument [options]                 profiles the whole cell
    cell ...

The report is shown under the cell: the HTML page in an iframe (its
`srcdoc`, so nothing is written to disk or fetched), with the text report
for frontends that do not show HTML. It starts at the cell's own code: the
kernel's and IPython's frames above it, and the magic's own, are left out.

How: the code runs through IPython's own `run_cell` (so it may use magics,
`!commands` and top-level `await`, and its last expression is still the
cell's result), with an AST transformer that wraps the cell's module in
`start ... try: <cell> finally: stop`. The profiler is started from the
cell's own frame, whose function becomes the report's root
(`Profiler.start(caller_frame=...)`). A cell with top-level `await`, when
the kernel's event loop is already running (Jupyter), runs to completion
on a new event loop in a separate thread, which is then the thread
profiled (pyinstrument 5 does the same).
"""
from __future__ import print_function

import argparse
import ast
import sys

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class

from pyinstrument.profiler import Profiler, _native, _render_options

# The name the wrapped cell finds the magic's helper under, in the user's
# namespace while the cell runs. Not an identifier, so no user code can
# mean it (the compiler accepts any string as a name in an AST).
_HELPER_NAME = '<pyinstrument magic>'

# A session with no samples, to check the render options before the code
# runs.
_EMPTY_SESSION = (
    '{"format_version": 3, "start_time": 0.0, "duration": 0.0, "cpu_time": 0.0, '
    '"sample_count": 0, "interval": 0.001, "mode": "signal", "command_line": [], '
    '"python_version": "", "sys_path": [], "library_dirs": [], "notes": [], '
    '"frames": [], "stacks": [], "timeline": []}')


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError('%%pyinstrument: %s\n%s' % (message, self.format_usage()))


def _parser():
    parser = _ArgumentParser(
        prog='%pyinstrument', add_help=False,
        usage='%%pyinstrument [options] [statement]   (or %%%%pyinstrument [options] above a cell)')
    parser.add_argument('--interval', type=float, default=0.001,
                        help='minimum time between samples, in seconds (default 0.001)')
    parser.add_argument('--setprofile', action='store_true',
                        help='setprofile mode instead of signal mode')
    parser.add_argument('--show-all', action='store_true',
                        help='show everything: no frame hidden, removed or pruned')
    parser.add_argument('-t', '--timeline', action='store_true',
                        help='calls in time order, repeated calls kept apart')
    parser.add_argument('--hide', metavar='GLOB', help='file paths whose frames to hide')
    parser.add_argument('--hide-regex', metavar='REGEX', help='file paths whose frames to hide')
    parser.add_argument('--show', metavar='GLOB', help='file paths whose frames to always show')
    parser.add_argument('--show-regex', metavar='REGEX', help='file paths whose frames to always show')
    parser.add_argument('-p', '--render-option', metavar='KEY=VALUE', action='append', default=[],
                        help='a render option, as the command line takes it (repeatable)')
    parser.add_argument('--target-description', metavar='TEXT',
                        help="the report's first line (default: the cell's number)")
    parser.add_argument('--height', type=int, default=450,
                        help="the report's height in the notebook, in pixels (default 450)")
    parser.add_argument('--text', action='store_true',
                        help='show the text report only, not the HTML page')
    return parser


# Options followed by a value (the others are flags).
_TAKES_VALUE = ('--interval', '--hide', '--hide-regex', '--show', '--show-regex', '-p',
                '--render-option', '--target-description', '--height')


def _next_token(text):
    """The first shell-like word of `text` (quotes removed) and the rest."""
    import shlex
    index = 0
    quote = None
    while index < len(text):
        char = text[index]
        if quote:
            if char == quote:
                quote = None
            elif char == '\\' and quote == '"':
                index += 1
        elif char in '\'"':
            quote = char
        elif char.isspace():
            break
        elif char == '\\':
            index += 1
        index += 1
    word = text[:index]
    try:
        parts = shlex.split(word)
    except ValueError as error:
        raise UsageError('%%pyinstrument: cannot read %r: %s' % (word, error))
    return (parts[0] if parts else ''), text[index:].lstrip()


def split_options(line):
    """A line magic's leading options, as a list of words, and the statement
    after them (left as written). `--` ends the options."""
    words = []
    rest = line.strip()
    while rest.startswith('-'):
        word, rest = _next_token(rest)
        if word == '--':
            break
        words.append(word)
        # (-pKEY=VALUE and --name=value carry their value.)
        if word in _TAKES_VALUE and rest:
            value, rest = _next_token(rest)
            words.append(value)
    return words, rest


def _render_option_dict(args):
    options = {}
    if args.show_all:
        options['show_all'] = True
    if args.timeline:
        options['timeline'] = True
    for name in ('hide', 'hide_regex', 'show', 'show_regex'):
        value = getattr(args, name)
        if value is not None:
            options[name] = value
    for option in args.render_option:
        key, separator, value = option.partition('=')
        options[key.strip()] = value if separator else True
    return options


def _check_render_options(options):
    try:
        options = dict(options)
        show_all = bool(options.pop('show_all', False))
        _native.render(_EMPTY_SESSION, 'text', False, False, show_all, _render_options(options))
    except ValueError as error:
        raise UsageError('%%pyinstrument: %s' % (error,))


class _CellWrapper(ast.NodeTransformer):
    """Wraps a cell's module so that the profiler starts and stops in the
    cell's own frame:

        try:
            <helper>.started()
            <the cell; its last expression e becomes <helper>.keep(e)>
        finally:
            <helper>.finished()
        <helper>.kept()            (only if the cell ended in an expression)
    """

    def __init__(self):
        ast.NodeTransformer.__init__(self)
        self.done = False

    def visit_Module(self, node):
        # Only the cell itself: code that IPython compiles while the cell
        # runs (`%time statement` in it) stays as it is.
        body = list(node.body)
        if self.done or not body:
            return node
        self.done = True
        if len(body) == 1 and type(body[0]).__name__ == 'AsyncFunctionDef' \
                and body[0].name == 'async-def-wrapper':
            # IPython 7 before Python 3.8 runs a cell with top-level await
            # as the body of this coroutine function: wrap that body (its
            # last expression is already a `return`).
            function = body[0]
            started = ast.Expr(value=_helper_call('started', []))
            finished = [ast.Expr(value=_helper_call('finished', []))]
            function.body = [started, _try_finally(function.body, finished)]
            for statement in function.body:
                ast.copy_location(statement, function)
            ast.fix_missing_locations(node)
            return node
        last_expression = isinstance(body[-1], ast.Expr)
        if last_expression:
            body[-1] = ast.Expr(value=_helper_call('keep', [body[-1].value]))
        # One statement: IPython compiles and runs each top-level
        # statement of a cell on its own, and its own code runs in between.
        started = ast.Expr(value=_helper_call('started', []))
        wrapped = [_try_finally([started] + body, [ast.Expr(value=_helper_call('finished', []))])]
        if last_expression:
            wrapped.append(ast.Expr(value=_helper_call('kept', [])))
        node.body = wrapped
        for statement in node.body + [started]:
            ast.copy_location(statement, body[0])
        ast.fix_missing_locations(node)
        return node


def _helper_call(method, args):
    helper = ast.Name(id=_HELPER_NAME, ctx=ast.Load())
    function = ast.Attribute(value=helper, attr=method, ctx=ast.Load())
    if sys.version_info >= (3, 5):
        return ast.Call(func=function, args=args, keywords=[])
    return ast.Call(func=function, args=args, keywords=[], starargs=None, kwargs=None)


def _try_finally(body, final):
    if sys.version_info[0] >= 3:
        return ast.Try(body=body, handlers=[], orelse=[], finalbody=final)
    return ast.TryFinally(body=body, finalbody=final)


class _CellRun(object):
    """What the wrapped cell calls: starts the profiler in the cell's frame,
    stops it, and keeps the cell's last value for IPython to display."""

    def __init__(self, profiler, target_description):
        self.profiler = profiler
        self.target_description = target_description
        self.value = None

    def started(self):
        # Started once: a cell that IPython runs in parts (its last
        # expression separately) is one profile.
        if self.profiler.last_session is None and not self.profiler.is_running:
            self.profiler.start(caller_frame=sys._getframe(1),
                                target_description=self.target_description)

    def finished(self):
        if self.profiler.is_running:
            self.profiler.stop()

    def keep(self, value):
        self.value = value

    def kept(self):
        value, self.value = self.value, None
        return value


def _event_loop_running():
    try:
        import asyncio
    except ImportError:
        return False
    # (3.6's asyncio module does not export it; its events module has it.)
    get_running = getattr(asyncio.events, '_get_running_loop', None)
    return get_running is not None and get_running() is not None


def _needs_async(shell, code):
    should_run_async = getattr(shell, 'should_run_async', None)
    if should_run_async is None:
        return False
    try:
        transformed = shell.transform_cell(code)
    except Exception:
        return False
    try:
        return should_run_async(code, transformed_cell=transformed, preprocessing_exc_tuple=None)
    except TypeError:
        return should_run_async(code)


def _run_on_new_loop(shell, code):
    """Runs a cell with top-level await to completion on a new event loop in
    another thread: the kernel's own loop is running this one."""
    import asyncio
    import threading
    outcome = {}

    def target():
        loop = asyncio.new_event_loop()
        try:
            asyncio.set_event_loop(loop)
            outcome['result'] = loop.run_until_complete(_cell_coroutine(shell, code))
        except BaseException as error:  # reported in the kernel's thread
            outcome['error'] = error
        finally:
            asyncio.set_event_loop(None)
            loop.close()

    thread = threading.Thread(target=target, name='pyinstrument-magic')
    thread.start()
    thread.join()
    if 'error' in outcome:
        raise outcome['error']
    return outcome.get('result')


def _cell_coroutine(shell, code):
    # IPython 7.17+ wants the transformed cell given (and warns otherwise).
    try:
        transformed, failure = shell.transform_cell(code), None
    except Exception:
        transformed, failure = None, sys.exc_info()
    try:
        return shell.run_cell_async(code, transformed_cell=transformed,
                                    preprocessing_exc_tuple=failure)
    except TypeError:
        return shell.run_cell_async(code)


def _iframe(page, height):
    try:
        from html import escape
    except ImportError:  # Python 2
        from cgi import escape
    return ('<iframe srcdoc="%s" width="100%%" height="%d" frameborder="0" '
            'style="border: 1px solid #ddd; resize: vertical"></iframe>'
            % (escape(page, True), height))


@magics_class
class PyinstrumentMagics(Magics):

    @line_cell_magic
    def pyinstrument(self, line, cell=None):
        """Profiles a statement (`%pyinstrument [options] statement`) or a
        cell (`%%pyinstrument [options]` as its first line) and shows the
        report under it. Options: --interval SECONDS, --setprofile,
        --show-all, -t/--timeline, --hide GLOB, --hide-regex REGEX,
        --show GLOB, --show-regex REGEX, -p KEY=VALUE (repeatable; the
        command line's render options), --target-description TEXT,
        --height PIXELS, --text (the text report only)."""
        if cell is None:
            words, code = split_options(line)
        else:
            words = _split_words(line)
            code = cell
        args = _parser().parse_args(words)
        if not code.strip():
            raise UsageError('%pyinstrument: nothing to profile (give a statement, or use %%pyinstrument above a cell)')
        if not args.interval > 0:
            raise UsageError('%%pyinstrument: --interval must be a positive number of seconds, got %r'
                             % (args.interval,))
        options = _render_option_dict(args)
        _check_render_options(options)
        shell = self.shell
        if shell.user_ns.get(_HELPER_NAME) is not None:
            raise UsageError('%pyinstrument: already profiling (a %pyinstrument inside a profiled cell)')
        description = args.target_description
        if description is None:
            number = getattr(shell, 'execution_count', None)
            description = ('Cell [%s]' % number) if number is not None else 'Cell'
        profiler = Profiler(use_signal=not args.setprofile, interval=args.interval)
        run = _CellRun(profiler, description)
        wrapper = _CellWrapper()
        shell.user_ns[_HELPER_NAME] = run
        shell.user_ns_hidden[_HELPER_NAME] = run
        shell.ast_transformers.append(wrapper)
        try:
            if _event_loop_running() and _needs_async(shell, code):
                _run_on_new_loop(shell, code)
            else:
                shell.run_cell(code)
        finally:
            if wrapper in shell.ast_transformers:
                shell.ast_transformers.remove(wrapper)
            shell.user_ns.pop(_HELPER_NAME, None)
            shell.user_ns_hidden.pop(_HELPER_NAME, None)
            run.finished()  # if the cell was interrupted before its finally
        if profiler.last_session is None:
            # The cell never started (a syntax error, which IPython showed).
            return None
        _show(profiler, options, args)
        # (run_cell displayed the cell's value already.)
        return None


def _split_words(line):
    import shlex
    try:
        return shlex.split(line)
    except ValueError as error:
        raise UsageError('%%pyinstrument: cannot read the options %r: %s' % (line, error))


def _show(profiler, options, args):
    from IPython.display import display
    text = profiler.output_text(unicode=True, color=False, **options)
    if args.text:
        display({'text/plain': text}, raw=True)
        return
    page = profiler.output_html(**options)
    display({'text/html': _iframe(page, args.height), 'text/plain': text}, raw=True)


def load_ipython_extension(ipython):
    """`%load_ext pyinstrument`: registers %pyinstrument and %%pyinstrument."""
    ipython.register_magics(PyinstrumentMagics)
