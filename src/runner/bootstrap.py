# Python half of the runner: the steps of `python script.py` / `python -m mod`
# that are easiest to express in Python. Runs in its own namespace (never in
# __main__) and is compiled as "<pyinstrument>"; no frame of it is ever on the
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
    if os.path.isdir(path) or _is_zipfile(path):
        # python puts the directory or archive itself first on sys.path and
        # runs its __main__ module.
        sys.path[0] = path
        return 'importer'
    try:
        with open(path, 'rb') as script:
            source = script.read()
        code = compile(source, path, 'exec', 0, True)
    except BaseException as exc:
        _prepared = _without_traceback(exc)
        return 'error'
    main = sys.modules['__main__']
    main.__file__ = path
    main.__cached__ = None
    try:
        from importlib.machinery import SourceFileLoader
        main.__loader__ = SourceFileLoader('__main__', path)
    except ImportError:
        pass
    _prepared = code
    return 'code'


def _is_zipfile(path):
    try:
        import zipfile
        return zipfile.is_zipfile(path)
    except Exception:
        return False


def set_module_path0():
    # python -m puts the current directory first on sys.path: as a full
    # path since 3.8, as '' before.
    import os
    sys.path[0] = os.getcwd() if sys.version_info >= (3, 8) else ''


def library_dirs():
    """Where code that is not the application's own lives."""
    import sysconfig
    dirs = []
    paths = sysconfig.get_paths()
    for key in ('stdlib', 'platstdlib', 'purelib', 'platlib'):
        if paths.get(key):
            dirs.append(paths[key])
    try:
        import site
        dirs.extend(site.getsitepackages())
        dirs.append(site.getusersitepackages())
    except Exception:
        pass
    for prefix in (sys.base_prefix, sys.base_exec_prefix):
        dirs.append(sysconfig.get_paths(vars={'base': prefix, 'platbase': prefix})['stdlib'])
    unique = []
    for d in dirs:
        if d and d not in unique:
            unique.append(d)
    return unique


def python_version():
    return '%d.%d.%d' % sys.version_info[:3]


def sys_path():
    return [p for p in sys.path if isinstance(p, str)]
