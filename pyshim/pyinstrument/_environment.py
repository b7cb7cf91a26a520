"""Facts about the running interpreter that reports need. Shared by the
package and by the runner's start-up code (which executes this file too)."""
import sys


def library_dirs():
    """Directories holding code that is not the application's own: the
    standard library and site-packages, of this environment and its base."""
    import sysconfig
    dirs = []
    paths = sysconfig.get_paths()
    for key in ('stdlib', 'platstdlib', 'purelib', 'platlib'):
        if paths.get(key):
            dirs.append(paths[key])
    bases = set([getattr(sys, 'base_prefix', sys.prefix), getattr(sys, 'base_exec_prefix', sys.exec_prefix)])
    for base in bases:
        base_paths = sysconfig.get_paths(vars={'base': base, 'platbase': base})
        dirs.extend([base_paths['stdlib'], base_paths['platstdlib']])
    try:
        import site
        dirs.extend(site.getsitepackages())
        dirs.append(site.getusersitepackages())
    except Exception:
        pass
    unique = []
    for d in dirs:
        if d and d not in unique:
            unique.append(d)
    return unique


def python_version():
    return '%d.%d.%d' % tuple(sys.version_info[:3])


def sys_path():
    return [p for p in sys.path if isinstance(p, str)]
