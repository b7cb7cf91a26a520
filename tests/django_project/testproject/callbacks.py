"""PYINSTRUMENT_SHOW_CALLBACK targets for the tests."""


def header_allows(request):
    return request.META.get('HTTP_X_PROFILE_ME') == 'yes'


def never(request):
    return False
