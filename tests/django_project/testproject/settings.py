"""A minimal project using pyinstrument's middleware. The live-server tests
configure it with environment variables:

  TESTPROJECT_DEBUG=1             settings.DEBUG (default off)
  TESTPROJECT_PROFILE_DIR=path    PYINSTRUMENT_PROFILE_DIR
  TESTPROJECT_USE_SIGNAL=0        PYINSTRUMENT_USE_SIGNAL = False
  TESTPROJECT_SHOW_CALLBACK=path  PYINSTRUMENT_SHOW_CALLBACK (dotted path)
  TESTPROJECT_OLD_MIDDLEWARE=1    MIDDLEWARE_CLASSES instead of MIDDLEWARE
                                  (Django < 2.0 only)
"""
import os

import django
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SECRET_KEY = 'pyinstrument-test-project-not-secret'
DEBUG = os.environ.get('TESTPROJECT_DEBUG', '0') == '1'
ALLOWED_HOSTS = ['127.0.0.1', 'localhost', 'testserver']

INSTALLED_APPS = []
ROOT_URLCONF = 'testproject.urls'
DATABASES = {}
USE_TZ = True

_middleware = ['pyinstrument.middleware.ProfilerMiddleware']
if os.environ.get('TESTPROJECT_OLD_MIDDLEWARE') == '1':
    if django.VERSION >= (2, 0):
        raise ImproperlyConfigured('Django %s does not read MIDDLEWARE_CLASSES' % django.get_version())
    MIDDLEWARE_CLASSES = _middleware
elif django.VERSION >= (1, 10):
    MIDDLEWARE = _middleware
else:
    MIDDLEWARE_CLASSES = _middleware

if os.environ.get('TESTPROJECT_PROFILE_DIR'):
    PYINSTRUMENT_PROFILE_DIR = os.environ['TESTPROJECT_PROFILE_DIR']
PYINSTRUMENT_USE_SIGNAL = os.environ.get('TESTPROJECT_USE_SIGNAL', '1') == '1'
if os.environ.get('TESTPROJECT_SHOW_CALLBACK'):
    PYINSTRUMENT_SHOW_CALLBACK = os.environ['TESTPROJECT_SHOW_CALLBACK']

LOGGING = {
    'version': 1,
    'disable_existing_loggers': False,
    'handlers': {'console': {'class': 'logging.StreamHandler'}},
    'loggers': {'pyinstrument': {'handlers': ['console'], 'level': 'ERROR'}},
}
