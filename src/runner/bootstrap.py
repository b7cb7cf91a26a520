# Python half of the runner: the steps of `python script.py` / `python -m mod`
# that are easiest to express in Python. Runs in its own namespace (never in
# __main__) and is compiled as `sample::OWN_CODE_FILE`; no frame of it is ever on the
# stack while the program runs, so tracebacks and profiles never show it.
import sys


def _without_traceback(exc):
    # The traceback would only show this file's frames; python reports a
    # script's SyntaxError with none.
    exc.__traceback__ = None
    return exc


def prepare_script(path):
    """Set up __main__ like python does for a script file, and compile it.

    Returns 'code' (the code object left in _prepared), 'importer' for a
    directory or zip file with a __main__.py, or 'error' (the exception left
    in _prepared) if it cannot be read or compiled.
    """
    global _prepared
    import os
    if os.path.isdir(path):
        return _run_from_importer(path)
    try:
        with open(path, 'rb') as script:
            source = script.read()
        global _script_path
        _script_path = path
        if _looks_like_zipfile(source):
            return _run_from_importer(path)
        code = compile(source, path, 'exec', 0, True)
    except BaseException as exc:
        _prepared = _without_traceback(exc)
        return 'error'
    main = sys.modules['__main__']
    main.__file__ = path
    if sys.version_info[0] >= 3:
        main.__cached__ = None
    loaders = sys.modules.get('_frozen_importlib_external')
    if loaders is not None:
        main.__loader__ = loaders.SourceFileLoader('__main__', path)
    _prepared = code
    return 'code'


def prepare_command(source):
    """Set up __main__ like `python -c` does, and compile the program
    ('code' or 'error', as prepare_script)."""
    global _prepared
    try:
        code = compile(source, '<string>', 'exec', 0, True)
    except BaseException as exc:
        _prepared = _without_traceback(exc)
        return 'error'
    main = sys.modules['__main__']
    loaders = sys.modules.get('_frozen_importlib')
    if loaders is not None:
        main.__loader__ = loaders.BuiltinImporter
    _prepared = code
    return 'code'


def _run_from_importer(path):
    # python puts the directory or archive itself first on sys.path and
    # runs its __main__ module.
    sys.path[0] = path
    return 'importer'


def _looks_like_zipfile(source):
    # A zip archive (a zipapp may start with a #! line) ends with its
    # end-of-central-directory record, within the last 64 KiB. Only then is
    # zipimport asked, so ordinary scripts import nothing.
    if b'PK\x05\x06' not in source[-(65536 + 22):]:
        return False
    try:
        import zipimport
        zipimport.zipimporter(_script_path)
        return True
    except Exception:
        return False


def register_finish(hooks):
    """Stop profiling when the program is over: in an atexit handler
    registered before any of the program's, so it runs after all of them,
    while the interpreter is still whole. `hooks` is the runner's private
    module (no import finds it), so only this handler can end the run."""
    atexit_was_imported = 'atexit' in sys.modules
    import atexit
    atexit.register(hooks.finish_run)
    # The program did not import atexit: keep sys.modules as python has it.
    # atexit must stay the same module object, since before 3.10 its
    # handlers live in the module: the import hook hands this very object
    # back when the program imports it.
    if not atexit_was_imported:
        _stashed_modules['atexit'] = sys.modules.pop('atexit')
        _stashed_specs['atexit'] = atexit.__spec__


def program_never_started():
    """True when python could not even compile the script (or find the
    module): it printed the error and nothing of the program ran."""
    last_type = getattr(sys, 'last_type', None)
    if last_type is None or getattr(sys, 'last_traceback', None) is not None:
        return False
    return issubclass(last_type, SyntaxError)


def set_module_path0():
    # python -m puts the current directory first on sys.path: as a full
    # path since 3.7, as '' before.
    import os
    sys.path[0] = os.getcwd() if sys.version_info >= (3, 7) else ''


_embedded_modules = {}
# Modules imported by the runner, taken out of sys.modules, returned as they
# are when the program imports them.
_stashed_modules = {}
_stashed_specs = {}


_own_code_file = None


def _embedded_file_name(fullname):
    return _own_code_file + '/' + fullname.replace('.', '/') + '.py'


def add_embedded_module(name, source, is_package):
    _embedded_modules[name] = (source, is_package)


def install_embedded_finder(own_code_file):
    """Make the `pyinstrument` package importable by the program (its
    Profiler API and Django middleware) with nothing installed. It comes
    first, so the profiler in use is always this one. Its modules' file
    names start with `own_code_file`, by which reports recognise the
    profiler's own frames."""
    global _own_code_file
    _own_code_file = own_code_file
    if sys.version_info[0] < 3:
        sys.meta_path.insert(0, _Python2EmbeddedImporter())
        return
    # Duck-typed finder and loader: importing importlib.abc or .util (or
    # even importlib.machinery) here would show in the program's
    # sys.modules and slow every start-up down for the sake of a rare import.
    ModuleSpec = sys.modules['_frozen_importlib'].ModuleSpec

    class EmbeddedPackageFinder(object):
        def find_spec(self, fullname, path=None, target=None):
            if fullname in _stashed_modules:
                return ModuleSpec(fullname, self, origin='built-in')
            if fullname not in _embedded_modules:
                return None
            is_package = _embedded_modules[fullname][1]
            origin = _embedded_file_name(fullname)
            return ModuleSpec(fullname, self, origin=origin, is_package=is_package)

        def create_module(self, spec):
            return _stashed_modules.pop(spec.name, None)

        def exec_module(self, module):
            if module.__name__ in _stashed_specs:
                # Already initialised; undo the import system's new __spec__.
                module.__spec__ = _stashed_specs.pop(module.__name__)
                return
            source, is_package = _embedded_modules[module.__name__]
            if is_package:
                module.__path__ = []
            # Code that expects a module to have a file name gets the one
            # its frames have (IPython 7's `%load_ext` reads `__file__`),
            # as on Python 2; nothing is ever read from it.
            module.__file__ = module.__spec__.origin
            code = compile(source, module.__spec__.origin, 'exec', 0, True)
            exec(code, module.__dict__)

    sys.meta_path.insert(0, EmbeddedPackageFinder())


class _Python2EmbeddedImporter(object):
    """The same import hook in Python 2.7's (PEP 302) terms."""

    def find_module(self, fullname, path=None):
        return self if fullname in _embedded_modules else None

    def load_module(self, fullname):
        if fullname in sys.modules:
            return sys.modules[fullname]
        import imp
        source, is_package = _embedded_modules[fullname]
        module = imp.new_module(fullname)
        module.__file__ = _embedded_file_name(fullname)
        module.__loader__ = self
        if is_package:
            module.__path__ = []
            module.__package__ = fullname
        else:
            module.__package__ = fullname.rpartition('.')[0]
        sys.modules[fullname] = module
        try:
            exec(compile(source, module.__file__, 'exec', 0, True), module.__dict__)
        except BaseException:
            del sys.modules[fullname]
            raise
        return module
