"""Django test-client tests of pyinstrument's middleware:
`python manage.py test testproject` (from tests/django_project)."""
import logging
import os
import re
import shutil
import tempfile
import threading

import django
from django.core.signals import got_request_exception
from django.test import Client, RequestFactory, SimpleTestCase, override_settings

from pyinstrument import _web
from pyinstrument import middleware as mw
from pyinstrument.middleware import ProfilerMiddleware
from testproject import views

ALPHA = 'alpha_view_spinner_q7'
BETA = 'beta_view_spinner_k3'


def body(response):
    return response.content.decode('utf-8')


def client_returning_errors():
    """A test client that returns the response to a request whose view
    raised (as a WSGI server would send it) instead of raising the view's
    exception again."""
    if django.VERSION >= (3, 0):
        return Client(raise_request_exception=False)

    class ReturningClient(Client):
        def store_exc_info(self, **kwargs):
            pass  # Django < 3.0 raises what is stored here

    return ReturningClient()


class ProfileChecks(object):
    # True in the subclasses that serve the project with MIDDLEWARE_CLASSES.
    old_style = False

    def assertProfileOf(self, response, own, other):
        self.assertEqual(response.status_code, 200)
        self.assertTrue(response['Content-Type'].startswith('text/html'), response['Content-Type'])
        html = body(response)
        self.assertTrue(re.search(r'<html', html, re.I) and re.search(r'</html>\s*$', html, re.I),
                        'not an HTML document: %r' % html[:200])
        self.assertIn(own, html)
        self.assertNotIn(other, html)
        # The profiler's own frames are left out, the installed package's
        # (site-packages/pyinstrument/) as well as the runner's.
        for own_code in ('pyinstrument/middleware.py', 'pyinstrument/profiler.py'):
            self.assertNotIn(own_code, html)

    def assertNormalPage(self, response, text):
        self.assertEqual(response.status_code, 200)
        self.assertEqual(body(response), text)


@override_settings(DEBUG=True)
class UrlArgumentTests(ProfileChecks, SimpleTestCase):
    def test_profile_argument_returns_the_views_profile(self):
        self.assertProfileOf(self.client.get('/alpha/?profile'), ALPHA, BETA)
        self.assertProfileOf(self.client.get('/beta/?profile'), BETA, ALPHA)

    def test_without_the_argument_the_page_is_served(self):
        self.assertNormalPage(self.client.get('/alpha/'), 'alpha page\n')

    def test_profile_of_a_post(self):
        self.assertProfileOf(self.client.post('/alpha/?profile', {'x': '1'}), ALPHA, BETA)

    @override_settings(PYINSTRUMENT_URL_ARGUMENT='prof')
    def test_custom_url_argument(self):
        self.assertProfileOf(self.client.get('/alpha/?prof'), ALPHA, BETA)
        self.assertNormalPage(self.client.get('/alpha/?profile'), 'alpha page\n')

    @override_settings(PYINSTRUMENT_USE_SIGNAL=False)
    def test_setprofile_mode(self):
        self.assertProfileOf(self.client.get('/alpha/?profile'), ALPHA, BETA)

    @override_settings(PYINSTRUMENT_INTERVAL=0.005)
    def test_interval(self):
        self.assertProfileOf(self.client.get('/beta/?profile'), BETA, ALPHA)

    def test_the_middleware_protocol_in_use(self):
        response = self.client.get('/alpha/?profile')
        self.assertProfileOf(response, ALPHA, BETA)
        # Only process_request/process_response keep the profiler on the request.
        self.assertEqual(hasattr(response.wsgi_request, '_pyinstrument_profiler'), self.old_style)

    def fetch_recording_failures(self, path):
        """GETs path; returns the response (Django's error page if the request
        failed) and the requests whose handling raised."""
        failed = []

        def record(sender, request=None, **kwargs):
            failed.append(request)

        got_request_exception.connect(record)
        try:
            response = client_returning_errors().get(path)
        finally:
            got_request_exception.disconnect(record)
        return response, failed

    def test_a_failing_view_still_stops_the_profiler(self):
        response, failed = self.fetch_recording_failures('/boom/?profile')
        self.assertEqual(len(failed), 1)
        self.assertEqual(response.status_code, 200)  # the profile of the failed request
        self.assertIn('</html>', body(response))
        # The thread is not left with a running profiler.
        self.assertIsNone(getattr(mw._running, 'profiler', None))
        self.assertProfileOf(self.client.get('/alpha/?profile'), ALPHA, BETA)

    def test_a_failing_middleware_still_stops_the_profiler(self):
        chain = ['pyinstrument.middleware.ProfilerMiddleware', 'testproject.middleware.FailingResponseMiddleware']
        with self.settings(**{'MIDDLEWARE_CLASSES' if self.old_style else 'MIDDLEWARE': chain}):
            response, failed = self.fetch_recording_failures('/alpha/?profile&fail_response')
        self.assertEqual(len(failed), 1)
        if self.old_style:
            # The exception skips the profiler's process_response: Django's
            # error page is served, and the end of the request stops it.
            self.assertEqual(response.status_code, 500)
            self.assertFalse(failed[0]._pyinstrument_profiler.is_running)
        else:
            self.assertProfileOf(response, ALPHA, BETA)
        self.assertIsNone(getattr(mw._running, 'profiler', None))
        self.assertProfileOf(self.client.get('/beta/?profile'), BETA, ALPHA)

    def test_concurrent_requests_in_threads_do_not_mix(self):
        results = {}

        def fetch(name, url):
            results[name] = Client().get(url)

        threads = [threading.Thread(target=fetch, args=('a%d' % i, '/alpha/?profile&seconds=0.3')) for i in range(3)]
        threads += [threading.Thread(target=fetch, args=('b%d' % i, '/beta/?profile&seconds=0.3')) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(len(results), 6)
        for name, response in results.items():
            if name.startswith('a'):
                self.assertProfileOf(response, ALPHA, BETA)
            else:
                self.assertProfileOf(response, BETA, ALPHA)


class SecureByDefaultTests(ProfileChecks, SimpleTestCase):
    @override_settings(DEBUG=False)
    def test_not_debug_ignores_the_argument(self):
        self.assertNormalPage(self.client.get('/alpha/?profile'), 'alpha page\n')

    @override_settings(DEBUG=False, PYINSTRUMENT_SHOW_CALLBACK='testproject.callbacks.header_allows')
    def test_dotted_path_callback(self):
        self.assertNormalPage(self.client.get('/alpha/?profile'), 'alpha page\n')
        self.assertProfileOf(self.client.get('/alpha/?profile', HTTP_X_PROFILE_ME='yes'), ALPHA, BETA)

    @override_settings(DEBUG=False, PYINSTRUMENT_SHOW_CALLBACK=lambda request: True)
    def test_callable_callback(self):
        self.assertProfileOf(self.client.get('/beta/?profile'), BETA, ALPHA)

    @override_settings(DEBUG=True, PYINSTRUMENT_SHOW_CALLBACK='testproject.callbacks.never')
    def test_the_callback_decides_even_with_debug(self):
        self.assertNormalPage(self.client.get('/alpha/?profile'), 'alpha page\n')

    def test_not_debug_with_a_profile_dir_writes_nothing(self):
        directory = tempfile.mkdtemp()
        try:
            target = os.path.join(directory, 'profiles')
            with self.settings(DEBUG=False, PYINSTRUMENT_PROFILE_DIR=target):
                self.assertNormalPage(self.client.get('/alpha/'), 'alpha page\n')
            self.assertFalse(os.path.exists(target))
        finally:
            shutil.rmtree(directory)


class ProfileDirTests(ProfileChecks, SimpleTestCase):
    def setUp(self):
        self.directory = tempfile.mkdtemp()
        self.target = os.path.join(self.directory, 'not', 'yet')

    def tearDown(self):
        shutil.rmtree(self.directory)

    def files(self):
        return sorted(os.listdir(self.target)) if os.path.isdir(self.target) else []

    def test_every_request_is_saved(self):
        with self.settings(DEBUG=True, PYINSTRUMENT_PROFILE_DIR=self.target):
            self.assertNormalPage(self.client.get('/alpha/'), 'alpha page\n')
            self.assertNormalPage(self.client.get('/beta/'), 'beta page\n')
            self.assertNormalPage(self.client.get('/alpha/'), 'alpha page\n')
        files = self.files()
        self.assertEqual(len(files), 3, files)
        for name in files:
            self.assertTrue(re.match(r'^\d+\.\d{3}s (alpha|beta) \d+( \(\d+\))?\.html$', name), name)
            with open(os.path.join(self.target, name)) as handle:
                html = handle.read()
            if ' alpha ' in name:
                self.assertIn(ALPHA, html)
                self.assertNotIn(BETA, html)
            else:
                self.assertIn(BETA, html)
                self.assertNotIn(ALPHA, html)

    def test_profile_argument_with_a_profile_dir(self):
        with self.settings(DEBUG=True, PYINSTRUMENT_PROFILE_DIR=self.target):
            self.assertProfileOf(self.client.get('/alpha/?profile'), ALPHA, BETA)
        self.assertEqual(len(self.files()), 1)

    def test_hostile_and_long_paths_stay_in_the_folder(self):
        paths = [
            '/any/..%2F..%2F..%2Fescaped/',
            '/any/../../x',
            '/any/' + 'a' * 3000 + '/',
            '/any/%E2%9C%93/\\..\\/.../',
            '/any/./.',
        ]
        with self.settings(DEBUG=True, PYINSTRUMENT_PROFILE_DIR=self.target):
            for path in paths:
                self.assertNormalPage(self.client.get(path), 'index page\n')
        files = self.files()
        self.assertEqual(len(files), len(paths), files)
        for name in files:
            self.assertNotIn('/', name)
            self.assertNotIn('..', name)
            self.assertLessEqual(len(name.encode('utf-8')), 200)
        self.assertEqual(os.listdir(self.directory), ['not'])

    def test_never_overwrites(self):
        for _ in range(3):
            _web.write_new_file(self.target, '0.100s same 1700000000.html', u'<html>%d</html>' % _, 'html')
        files = self.files()
        self.assertEqual(files, ['0.100s same 1700000000 (1).html', '0.100s same 1700000000 (2).html',
                                 '0.100s same 1700000000.html'])

    def test_a_report_is_saved_as_utf8(self):
        # Reports are native strs (UTF-8 bytes on Python 2) that may hold
        # non-ASCII file paths and names.
        report = u'<html>caf\xe9 \u2713</html>'
        native = report.encode('utf-8') if str is bytes else report
        _web.write_new_file(self.target, 'utf8.html', native)
        with open(os.path.join(self.target, 'utf8.html'), 'rb') as handle:
            self.assertEqual(handle.read(), report.encode('utf-8'))

    def test_file_name(self):
        name = _web.file_name(None, 1.23456, '/a/b/../c.d/', 1700000000.4, 'html')
        self.assertEqual(name, '1.235s a_b_c.d 1700000000.html')
        self.assertEqual(_web.file_name(None, 0.5, '/', 1.0, 'txt'), '0.500s root 1.txt')

    def test_renderer_setting(self):
        for setting, extension, marker in (('text', 'txt', ALPHA),
                                           ('pyinstrument.renderers.SpeedscopeRenderer', 'speedscope.json',
                                            '"$schema"'),
                                           ('json', 'json', '"stacks"')):
            target = os.path.join(self.target, setting)
            with self.settings(DEBUG=True, PYINSTRUMENT_PROFILE_DIR=target,
                               PYINSTRUMENT_PROFILE_DIR_RENDERER=setting):
                self.assertNormalPage(self.client.get('/alpha/'), 'alpha page\n')
                # ?profile is HTML whatever the files are.
                self.assertProfileOf(self.client.get('/alpha/?profile'), ALPHA, BETA)
            files = sorted(os.listdir(target))
            self.assertEqual(len(files), 2, files)
            for name in files:
                self.assertTrue(re.match(r'^\d+\.\d{3}s alpha \d+( \(\d+\))?\.%s$' % re.escape(extension), name), name)
                with open(os.path.join(target, name)) as handle:
                    self.assertIn(marker, handle.read())

    def test_a_bad_renderer_setting_fails_clearly(self):
        from django.core.exceptions import ImproperlyConfigured
        # (Django logs the error with its traceback: not wanted in the
        # test's output, which a failure elsewhere must not be lost in.)
        request_logger = logging.getLogger('django.request')
        request_logger.disabled = True
        try:
            with self.settings(DEBUG=True, PYINSTRUMENT_PROFILE_DIR=self.target,
                               PYINSTRUMENT_PROFILE_DIR_RENDERER='pyinstrument.renderers.Nope'):
                with self.assertRaises(ImproperlyConfigured):
                    self.client.get('/alpha/')
        finally:
            request_logger.disabled = False
        self.assertEqual(self.files(), [])

    def test_filename_setting(self):
        with self.settings(DEBUG=True, PYINSTRUMENT_PROFILE_DIR=self.target,
                           PYINSTRUMENT_FILENAME='{path}/{total_time:.0f}.{ext}'):
            self.assertNormalPage(self.client.get('/alpha/'), 'alpha page\n')
            self.assertNormalPage(self.client.get('/alpha/'), 'alpha page\n')
        self.assertEqual(self.files(), ['alpha'])
        # (a request takes well under half a second: both are named '0')
        self.assertEqual(sorted(os.listdir(os.path.join(self.target, 'alpha'))), ['0 (1).html', '0.html'])

    def test_filename_callback_setting(self):
        calls = []

        def name_it(request, session, renderer):
            calls.append((request.path, session.duration, renderer.output_file_extension))
            return {'/alpha/': 'named-%s.%s' % (request.GET['n'], renderer.output_file_extension),
                    '/beta/': '../../outside.html'}[request.path]

        with self.settings(DEBUG=True, PYINSTRUMENT_PROFILE_DIR=self.target, PYINSTRUMENT_FILENAME_CALLBACK=name_it,
                           PYINSTRUMENT_PROFILE_DIR_RENDERER='text'):
            self.assertNormalPage(self.client.get('/alpha/?n=1'), 'alpha page\n')
            # A name outside the folder is refused (and logged); the page is served.
            pyinstrument_logger = logging.getLogger('pyinstrument')
            pyinstrument_logger.disabled = True
            try:
                self.assertNormalPage(self.client.get('/beta/'), 'beta page\n')
            finally:
                pyinstrument_logger.disabled = False
        with self.settings(DEBUG=True, PYINSTRUMENT_PROFILE_DIR=self.target,
                           PYINSTRUMENT_FILENAME_CALLBACK='testproject.callbacks.profile_file_name'):
            self.assertNormalPage(self.client.get('/beta/'), 'beta page\n')
        self.assertEqual(self.files(), ['from-a-dotted-path.html', 'named-1.txt'])
        self.assertEqual(os.listdir(self.directory), ['not'])
        self.assertEqual([(c[0], c[2]) for c in calls], [('/alpha/', 'txt'), ('/beta/', 'txt')])
        self.assertTrue(calls[0][1] > 0, calls)


@override_settings(DEBUG=True)
class OldStyleMiddlewareTests(ProfileChecks, SimpleTestCase):
    """The MIDDLEWARE_CLASSES protocol, driven directly (Django >= 2.0 no
    longer reads that setting)."""

    def test_process_request_and_response(self):
        factory = RequestFactory()
        middleware = ProfilerMiddleware()
        request = factory.get('/alpha/', {'profile': ''})
        self.assertIsNone(middleware.process_request(request))
        response = middleware.process_response(request, views.alpha(request))
        self.assertProfileOf(response, ALPHA, BETA)

        request = factory.get('/beta/')
        self.assertIsNone(middleware.process_request(request))
        response = middleware.process_response(request, views.beta(request))
        self.assertNormalPage(response, 'beta page\n')

    def test_a_response_that_never_came_back_is_cleaned_up(self):
        factory = RequestFactory()
        middleware = ProfilerMiddleware()
        lost = factory.get('/alpha/', {'profile': ''})
        middleware.process_request(lost)  # process_response never called
        request = factory.get('/beta/', {'profile': ''})
        middleware.process_request(request)
        response = middleware.process_response(request, views.beta(request))
        self.assertProfileOf(response, BETA, ALPHA)
        self.assertFalse(lost._pyinstrument_profiler.is_running)


if django.VERSION < (2, 0):
    # Django 1.10 and 1.11 serve MIDDLEWARE_CLASSES when MIDDLEWARE is None:
    # the same tests again, through the old protocol.
    old_style_settings = override_settings(
        MIDDLEWARE=None, MIDDLEWARE_CLASSES=['pyinstrument.middleware.ProfilerMiddleware'])

    @old_style_settings
    class OldStyleUrlArgumentTests(UrlArgumentTests):
        old_style = True

    @old_style_settings
    class OldStyleSecureByDefaultTests(SecureByDefaultTests):
        old_style = True

    @old_style_settings
    class OldStyleProfileDirTests(ProfileDirTests):
        old_style = True
