"""Facts about the running interpreter that reports need. Shared by the
package and by the runner's start-up code (which executes this file too)."""
import sys


def library_dirs():
    """Directories holding code that is not the application's own: the
    standard library and site-packages, of this environment and its base.
    (Read from modules already imported: sysconfig would cost start-up time.)"""
    import os
    dirs = [os.path.dirname(os.__file__)]
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


def python_version():
    return '%d.%d.%d' % tuple(sys.version_info[:3])


def sys_path():
    return [p for p in sys.path if isinstance(p, str)]
