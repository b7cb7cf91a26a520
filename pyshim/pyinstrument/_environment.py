"""Facts about the running interpreter that reports need. Shared by the
package and by the runner's start-up code (which executes this file too)."""
import sys


def library_dirs():
    """Directories holding code that is not the application's own: the
    standard library and site-packages, of this environment and its base,
    and the interpreter's prefixes (sys.prefix, sys.base_prefix, their exec
    twins, and 2.7 virtualenv's sys.real_prefix), where the rest of an
    installation lives. Recorded in the session, so that a profile loaded
    elsewhere is classified as it was where it was taken.
    (Read from modules already imported: sysconfig would cost start-up time.)"""
    import os
    dirs = [os.path.dirname(os.__file__)]
    # A virtualenv made in the project's own directory (`virtualenv .`) has
    # the program inside sys.prefix: such a prefix would hide all of it.
    program_dir = sys.path[0] if sys.path and isinstance(sys.path[0], str) else ''
    program_dir = os.path.abspath(program_dir) if program_dir else os.getcwd()
    for name in ('prefix', 'base_prefix', 'real_prefix', 'exec_prefix', 'base_exec_prefix'):
        value = getattr(sys, name, None)
        if isinstance(value, str) and value and not _contains(value, program_dir):
            dirs.append(value)
    try:
        import site
        dirs.extend(site.getsitepackages())
        dirs.append(site.getusersitepackages())
    except Exception:
        pass
    # Old virtualenvs' site.py has no getsitepackages(); sys.path names them.
    dirs.extend(p for p in sys.path
                if isinstance(p, str) and os.path.basename(p) in ('site-packages', 'dist-packages'))
    unique = []
    for d in dirs:
        if d and d not in unique:
            unique.append(d)
    return unique


def _contains(directory, path):
    directory = directory.rstrip('/\\')
    return path == directory or path.startswith(directory + '/') or path.startswith(directory + '\\')


def own_code_dirs():
    """Where the pyinstrument package's own code is, once imported (an
    installed package's site-packages/pyinstrument; inside the runner, its
    embedded `<pyinstrument>/pyinstrument`, which reports leave out in any
    case): frames from there (Profiler.start/stop, the middlewares) are the
    profiler's, and reports leave them out."""
    import os
    path = getattr(sys.modules.get('pyinstrument'), '__file__', None)
    if not isinstance(path, str) or not path:
        return []
    return [os.path.dirname(path)]


def python_version():
    return '%d.%d.%d' % tuple(sys.version_info[:3])


def sys_path():
    return [p for p in sys.path if isinstance(p, str)]
