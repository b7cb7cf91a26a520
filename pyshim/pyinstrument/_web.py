"""What the web middlewares (Django, WSGI, ASGI) share: the renderer that
saves profiles, how a saved profile's file is named, and writing it without
ever overwriting another.

Python 2.7 and 3.x; nothing here imports a web framework.
"""
import logging
import os
import re

logger = logging.getLogger('pyinstrument')

# Renderer names (`Profiler.output`'s) and the extension of their files.
EXTENSIONS = {
    'html': 'html',
    'text': 'txt',
    'json': 'json',
    'speedscope': 'speedscope.json',
    'collapsed': 'collapsed',
}

# pyinstrument 5's renderer classes (its PYINSTRUMENT_PROFILE_DIR_RENDERER
# takes their dotted paths), by class name, and the renderer that stands in
# for each here: its `.pyisession` is our JSON session (`--load` reads both).
PYINSTRUMENT5_RENDERERS = {
    'HTMLRenderer': 'html',
    'ConsoleRenderer': 'text',
    'JSONRenderer': 'json',
    'SessionRenderer': 'json',
    'SpeedscopeRenderer': 'speedscope',
}

# The name pyinstrument 5 gives a saved profile; `path` is made safe first
# (see safe_path_part).
DEFAULT_FILENAME = '{total_time:.3f}s {path} {timestamp:.0f}.{ext}'

MAX_PATH_PART = 100

try:
    _string_types = (str, unicode)  # noqa: F821 (Python 2)
except NameError:
    _string_types = (str,)


def is_string(value):
    return isinstance(value, _string_types)


def import_dotted(path):
    """The object a dotted path ('package.module.name') names."""
    module_name, _, attribute = path.rpartition('.')
    if not module_name:
        raise ImportError('%r is not a dotted path (package.module.name)' % (path,))
    module = __import__(module_name, fromlist=[attribute])
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ImportError('module %r has no attribute %r' % (module_name, attribute))


def resolve_callable(value):
    """A callable given as itself or as its dotted path; None stays None."""
    if value is None:
        return None
    if is_string(value):
        value = import_dotted(value)
    if not callable(value):
        raise TypeError('%r is not callable' % (value,))
    return value


class Renderer(object):
    """The renderer that saves profiles: `name` (what `Profiler.output`
    takes) and `output_file_extension` (as pyinstrument 5's renderers have
    it, for filename callbacks)."""

    def __init__(self, name):
        self.name = name
        self.output_file_extension = EXTENSIONS[name]

    def render(self, profiler):
        return profiler.output(self.name)

    def __repr__(self):
        return '<pyinstrument renderer %r>' % self.name


def renderer(value):
    """The Renderer a setting names: one of EXTENSIONS' names, or a
    pyinstrument 5 renderer class's dotted path
    ('pyinstrument.renderers.SpeedscopeRenderer'). None means HTML."""
    if value is None or value == '':
        return Renderer('html')
    if is_string(value):
        if value in EXTENSIONS:
            return Renderer(value)
        class_name = value.rpartition('.')[2]
        if value.startswith('pyinstrument.') and class_name in PYINSTRUMENT5_RENDERERS:
            return Renderer(PYINSTRUMENT5_RENDERERS[class_name])
    raise ValueError('unknown renderer %r for saved profiles: use one of %s, or a pyinstrument 5 '
                     'renderer class (%s)' % (value, ', '.join(sorted(EXTENSIONS)),
                                              ', '.join('pyinstrument.renderers.' + name
                                                        for name in sorted(PYINSTRUMENT5_RENDERERS))))


def safe_path_part(path):
    """A URL path as a piece of a file name: only letters, digits, '_',
    '-' and single dots (no separators, no '..'), at most MAX_PATH_PART
    characters, 'root' for '/'."""
    safe = re.sub(r'[^A-Za-z0-9_.-]+', '_', path.strip('/'))
    safe = re.sub(r'_{2,}', '_', re.sub(r'\.{2,}', '_', safe))[:MAX_PATH_PART]
    return safe or 'root'


def file_name(template, total_time, path, timestamp, extension):
    """`template` (PYINSTRUMENT_FILENAME; default DEFAULT_FILENAME) filled
    in with the profile's total time, the request's URL path (made safe),
    the time and the renderer's extension."""
    return (template or DEFAULT_FILENAME).format(
        total_time=total_time, path=safe_path_part(path), timestamp=timestamp, ext=extension)


def _inside(directory, name):
    """The path of `name` under `directory`, or ValueError if the name is
    empty, absolute, or climbs out of it."""
    if not is_string(name) or not name:
        raise ValueError('a profile file name must be a non-empty string, not %r' % (name,))
    normal = os.path.normpath(name)
    if os.path.isabs(normal) or normal == '.' or normal.split(os.sep)[0] == '..' or '\0' in normal:
        raise ValueError('profile file name %r is not inside the profile folder' % (name,))
    return os.path.join(directory, normal)


def write_new_file(directory, name, content, extension=None):
    """Writes `content` to `name` in `directory` (both created if missing),
    adding ' (N)' before the extension when that name is taken: the file is
    created with O_EXCL, so another request's profile is never overwritten,
    even by a request finishing at the same time. Returns the path."""
    path = _inside(directory, name)
    parent = os.path.dirname(path)
    try:
        os.makedirs(parent)
    except OSError:
        if not os.path.isdir(parent):
            raise
    if extension and path.endswith('.' + extension):
        stem, suffix = path[:-len(extension) - 1], '.' + extension
    else:
        stem, suffix = os.path.splitext(path)
    # A report is a native str: text on Python 3, UTF-8 bytes on Python 2.
    data = content if isinstance(content, bytes) else content.encode('utf-8')
    for attempt in range(10000):
        candidate = stem + ('' if attempt == 0 else ' (%d)' % attempt) + suffix
        try:
            fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except OSError:
            if os.path.lexists(candidate):
                continue
            raise
        with os.fdopen(fd, 'wb') as handle:
            handle.write(data)
        return candidate
    raise IOError('no free file name for %r in %r' % (name, directory))


def save_profile(profiler, directory, renderer, template, callback, request, path, timestamp):
    """Saves a stopped profiler's report in `directory`, named by
    `callback(request, session, renderer)` if given, else by `template`.
    Returns the file's path, or None (and logs why) if it could not be
    saved: a failed save never fails the request."""
    try:
        if callback is not None:
            name = callback(request, profiler.last_session, renderer)
        else:
            name = file_name(template, profiler.duration, path, timestamp,
                             renderer.output_file_extension)
        return write_new_file(directory, name, renderer.render(profiler),
                              renderer.output_file_extension)
    except Exception as error:
        logger.error('pyinstrument: could not save the profile of %s in %s: %s', path, directory, error)
        return None


def all_threads_from_environment():
    """PYINSTRUMENT_ALL_THREADS set to anything but '' or '0'."""
    return os.environ.get('PYINSTRUMENT_ALL_THREADS', '') not in ('', '0')


_renderer_named = renderer  # for MiddlewareOptions, whose argument is called `renderer`


class MiddlewareOptions(object):
    """What the WSGI and ASGI middlewares are made of: the application they
    wrap and the options both take, checked when the middleware is made (a
    bad renderer or interval fails at start-up, not on the first profiled
    request)."""

    def __init__(self, app, show_callback=None, profile_dir=None, renderer='html', filename=None,
                 filename_callback=None, url_argument='profile', use_signal=True, interval=0.001,
                 all_threads=None):
        from pyinstrument.profiler import Profiler
        self.app = app
        self.show_callback = resolve_callable(show_callback)
        self.profile_dir = profile_dir
        self.renderer = _renderer_named(renderer)
        self.filename = filename
        self.filename_callback = resolve_callable(filename_callback)
        self.url_argument = url_argument
        self.use_signal = bool(use_signal)
        self.interval = float(interval)
        # Every thread of the server in each profile (`--all-threads`); by
        # default as the environment's PYINSTRUMENT_ALL_THREADS says.
        self.all_threads = all_threads_from_environment() if all_threads is None else bool(all_threads)
        Profiler(use_signal=self.use_signal, interval=self.interval)  # checks them now

    def profiler(self):
        """A profiler with these options, for one request."""
        from pyinstrument.profiler import Profiler
        return Profiler(use_signal=self.use_signal, interval=self.interval, all_threads=self.all_threads)
