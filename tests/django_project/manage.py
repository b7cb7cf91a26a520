#!/usr/bin/env python
"""The test project's manage.py: `python manage.py test testproject` runs
the test-client tests; `python manage.py runserver` serves it (see
settings.py for the environment variables that configure it)."""
import os
import sys

if __name__ == '__main__':
    os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'testproject.settings')
    from django.core.management import execute_from_command_line
    execute_from_command_line(sys.argv)
