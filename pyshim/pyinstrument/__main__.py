"""`python -m pyinstrument [options] script.py [args...]`: the same as the
`pyinstrument` command, because it is the `pyinstrument` command. This
process is replaced by the installed binary, given the same arguments and the
same environment (nothing is added to it), so the options, the report and the
exit status are the command's own.
"""
import os
import sys


def _candidates():
    # The install puts the command in <prefix>/bin, where <prefix> is the
    # root of the scheme the package went to (the virtualenv, usually):
    # <prefix>/lib/pythonX.Y/site-packages/pyinstrument/__main__.py.
    package_dir = os.path.dirname(os.path.abspath(__file__))
    directory = package_dir
    for _ in range(5):
        directory = os.path.dirname(directory)
        yield os.path.join(directory, 'bin', 'pyinstrument')
    try:
        import sysconfig
        yield os.path.join(sysconfig.get_path('scripts'), 'pyinstrument')
        yield os.path.join(sysconfig.get_path('scripts', '%s_user' % os.name), 'pyinstrument')
    except Exception:
        pass


def find_binary():
    for candidate in _candidates():
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            with open(candidate, 'rb') as handle:
                if handle.read(4) == b'\x7fELF':
                    return candidate
    return None


def main():
    binary = find_binary()
    if binary is None:
        sys.stderr.write(
            'pyinstrument: the `pyinstrument` command is not installed next to this package '
            '(%s). Reinstall with `python -m pip install ./pyshim` from the repository.\n'
            % os.path.dirname(os.path.abspath(__file__)))
        sys.exit(1)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(binary, [binary] + sys.argv[1:])


if __name__ == '__main__':
    main()
