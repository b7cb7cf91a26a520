"""A middleware that fails the response of a request with `?fail_response`,
after the view ran; for MIDDLEWARE and MIDDLEWARE_CLASSES alike."""


class FailingResponseMiddleware(object):
    def __init__(self, get_response=None):
        self.get_response = get_response

    def __call__(self, request):
        return self.process_response(request, self.get_response(request))

    def process_response(self, request, response):
        if 'fail_response' in request.GET:
            raise RuntimeError('the response failed on purpose')
        return response
