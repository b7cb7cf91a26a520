"""PYINSTRUMENT_SHOW_CALLBACK and PYINSTRUMENT_FILENAME_CALLBACK targets for the tests."""


def header_allows(request):
    return request.META.get('HTTP_X_PROFILE_ME') == 'yes'


def never(request):
    return False


def profile_file_name(request, session, renderer):
    """A PYINSTRUMENT_FILENAME_CALLBACK target."""
    return 'from-a-dotted-path.' + renderer.output_file_extension
