"""Views that spend their time in functions whose names appear nowhere
else, so a profile shows whose request it covers."""
import time

from django.http import HttpResponse


def _spin(seconds):
    end = time.time() + seconds
    count = 0
    while time.time() < end:
        count += 1
    return count


def alpha_view_spinner_q7(seconds):
    return _spin(seconds)


def alpha_view_helper_q7(seconds):
    return _spin(seconds)


def beta_view_spinner_k3(seconds):
    return _spin(seconds)


def beta_view_helper_k3(seconds):
    return _spin(seconds)


def _seconds(request, default):
    try:
        return min(float(request.GET.get('seconds', default)), 5.0)
    except ValueError:
        return default


def alpha(request):
    seconds = _seconds(request, 0.2)
    # Two callees, so the profile branches at the view.
    alpha_view_spinner_q7(seconds * 0.6)
    alpha_view_helper_q7(seconds * 0.4)
    return HttpResponse('alpha page\n', content_type='text/plain')


def beta(request):
    seconds = _seconds(request, 0.2)
    beta_view_spinner_k3(seconds * 0.6)
    beta_view_helper_k3(seconds * 0.4)
    return HttpResponse('beta page\n', content_type='text/plain')


def index(request):
    return HttpResponse('index page\n', content_type='text/plain')


def boom(request):
    _spin(0.05)
    raise ValueError('boom view failed on purpose')
