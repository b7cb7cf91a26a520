"""Installs pyinstrument into the active Python environment:

    python -m pip install ./pyshim          (run from the repository)

builds, with cargo and against the python running this script, the native
module `_pyinstrument` (the crate as a cdylib) and the `pyinstrument` command
(the crate's binary), and installs them with the `pyinstrument` package:

    site-packages/pyinstrument/...              the Python package
    site-packages/_pyinstrument<EXT_SUFFIX>     the native module
    <prefix>/bin/pyinstrument                   the command

Needs cargo on PATH and a CPython 2.7 or 3.6-3.15. CARGO_TARGET_DIR is
honoured (default: the repository's target/); cargo is given
PYTHON_SYS_EXECUTABLE=sys.executable, so what is built matches this python (on
2.7, the crate's python27 feature). Works with old pips (18.1, the one a
Python 3.6 virtualenv starts with; 20.3.4 on 2.7) as well as new ones.

The native module is built with the crate's `extension-module` feature: it
links no libpython and uses the C API of the python that imports it (as C
extensions do), so it also loads into a python whose libpython is static.

The command is, by default, the crate's binary linked to this python's
libpython (shared with an rpath, or static when it has no shared one, or as
PYINSTRUMENT_LINK says; see build.rs). With PYINSTRUMENT_COMMAND=launcher
(ci/build-wheels.sh sets it) it is instead the launcher (src/launch.rs),
which loads the libpython of whatever installation it is installed into, at
run time: what a wheel, built on one machine and installed on another, needs.
Debug information is then stripped, to keep the wheel small.
"""
import atexit
import os
import shutil
import subprocess
import sys
import tempfile

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE_FILES = ('__init__.py', '__main__.py', '_environment.py', '_web.py', 'asgi.py', 'magic.py',
                 'middleware.py', 'profiler.py', 'wsgi.py')
# setuptools' build directory: a fresh one for each run, outside the
# repository, so builds for several Pythons (even at the same time) never
# share or leave files. The built command waits there for install_data
# (which copies it to <prefix>/bin).
BUILD_BASE = tempfile.mkdtemp(prefix='pyinstrument-build-')
atexit.register(shutil.rmtree, BUILD_BASE, True)
BINARY = os.path.join(BUILD_BASE, 'native', 'pyinstrument')


def _read(path):
    try:
        with open(path, 'rb') as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def _is_our_crate(directory):
    """True if `directory` is the repository this package comes from: the
    pyinstrument crate, with the same Python files as the ones being built."""
    cargo_toml = _read(os.path.join(directory, 'Cargo.toml'))
    if cargo_toml is None or b'name = "pyinstrument"' not in cargo_toml:
        return False
    for name in PACKAGE_FILES:
        ours = _read(os.path.join(HERE, 'pyinstrument', name))
        theirs = _read(os.path.join(directory, 'pyshim', 'pyinstrument', name))
        if ours != theirs:
            return False
    return True


def find_crate():
    candidates = []
    if os.environ.get('PYINSTRUMENT_SOURCE_DIR'):
        candidates.append(os.environ['PYINSTRUMENT_SOURCE_DIR'])
    # Built in place (pip >= 21.3, or setup.py run directly).
    candidates.append(os.path.dirname(HERE))
    # pip < 21.3 builds a copy of ./pyshim in a temporary directory: the
    # repository is then the directory pip was run from (or one above it).
    pwd = os.environ.get('PWD')
    while pwd and pwd != os.path.dirname(pwd):
        candidates.append(pwd)
        pwd = os.path.dirname(pwd)
    for candidate in candidates:
        if _is_our_crate(candidate):
            return os.path.abspath(candidate)
    sys.exit(
        'pyinstrument: cannot find the Rust crate to build (the repository that '
        'holds this pyshim/ folder).\nRun the install from the repository '
        '(`python -m pip install ./pyshim`), upgrade pip (pip >= 21.3 builds in '
        'place), or set PYINSTRUMENT_SOURCE_DIR to the repository.')


def _cargo(crate, target_dir, args):
    env = dict(os.environ)
    env['PYTHON_SYS_EXECUTABLE'] = sys.executable
    env['CARGO_TARGET_DIR'] = target_dir
    command = ['cargo'] + args
    sys.stderr.write('pyinstrument: running %s (PYTHON_SYS_EXECUTABLE=%s)\n' % (' '.join(command), sys.executable))
    sys.stderr.flush()
    try:
        status = subprocess.call(command, cwd=crate, env=env)
    except OSError as error:
        sys.exit('pyinstrument: cannot run cargo (%s). Install Rust (https://rustup.rs) '
                 'and make sure cargo is on PATH.' % (error,))
    if status != 0:
        sys.exit('pyinstrument: `%s` failed with status %d' % (' '.join(command), status))


def _copy_executable(source, destination):
    directory = os.path.dirname(destination)
    if directory and not os.path.isdir(directory):
        os.makedirs(directory)
    # Copy to a new file, then rename: never write into a file that a running
    # process (or a hard link into cargo's target directory) shares.
    temporary = destination + '.tmp%d' % os.getpid()
    shutil.copyfile(source, temporary)
    os.chmod(temporary, 0o755)
    os.rename(temporary, destination)


def _command_kind():
    kind = os.environ.get('PYINSTRUMENT_COMMAND') or 'linked'
    if kind not in ('linked', 'launcher'):
        sys.exit('pyinstrument: PYINSTRUMENT_COMMAND is %r; it must be "linked" (the default) '
                 'or "launcher" (for wheels)' % (kind,))
    return kind


def _strip_debug(path):
    try:
        status = subprocess.call(['strip', '--strip-debug', path])
    except OSError as error:
        status = error
    if status != 0:
        sys.exit('pyinstrument: `strip --strip-debug %s` failed (%s)' % (path, status))


class BuildNative(build_ext):
    """Builds `_pyinstrument` (and the `pyinstrument` command) with cargo
    instead of a C compiler."""

    def build_extension(self, ext):
        launcher = _command_kind() == 'launcher'
        crate = find_crate()
        target_dir = os.path.abspath(os.environ.get('CARGO_TARGET_DIR') or os.path.join(crate, 'target'))
        if not os.path.isdir(target_dir):
            os.makedirs(target_dir)
        # The target directory is shared by builds for every Python: hold a
        # lock from building until the results are copied out.
        import fcntl
        with open(os.path.join(target_dir, '.pyshim-build.lock'), 'w') as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            # Python 2.7 builds through python27-sys instead of python3-sys.
            bindings = 'python27' if sys.version_info[0] == 2 else 'python3'
            features = ['--no-default-features', '--features']
            _cargo(crate, target_dir, ['rustc', '--release', '--lib', '--crate-type', 'cdylib']
                   + features + [bindings + ',extension-module'])
            if launcher:
                _cargo(crate, target_dir, ['build', '--release', '--bin', 'pyinstrument-launcher']
                       + features + [bindings + ',extension-module'])
            else:
                _cargo(crate, target_dir, ['build', '--release', '--bin', 'pyinstrument']
                       + features + [bindings])
            release = os.path.join(target_dir, 'release')
            module = self.get_ext_fullpath(ext.name)
            _copy_executable(os.path.join(release, 'libpyinstrument.so'), module)
            _copy_executable(os.path.join(release, 'pyinstrument-launcher' if launcher else 'pyinstrument'), BINARY)
            if launcher:
                for path in (module, BINARY):
                    _strip_debug(path)


class BuildPython(build_py):
    """Leaves pyinstrument/asgi.py (asyncio's, Python 3 syntax) out on
    Python 2, where byte-compiling it would fail."""

    def find_package_modules(self, package, package_dir):
        modules = build_py.find_package_modules(self, package, package_dir)
        if sys.version_info[0] < 3:
            modules = [m for m in modules if m[:2] != ('pyinstrument', 'asgi')]
        return modules


setup(
    name='pyinstrument',
    version='0.1.0',
    description='A call-stack profiler for Python (native samplers in Rust)',
    packages=['pyinstrument'],
    ext_modules=[Extension('_pyinstrument', sources=[])],
    cmdclass={'build_ext': BuildNative, 'build_py': BuildPython},
    # The command: the native binary itself, installed to <prefix>/bin.
    data_files=[('bin', [BINARY])],
    python_requires='>=2.7',
    zip_safe=False,
    # Nothing is written into the repository: setuptools' build directory
    # and its metadata (egg-info) go to BUILD_BASE.
    options={'build': {'build_base': BUILD_BASE}, 'egg_info': {'egg_base': BUILD_BASE}},
)
