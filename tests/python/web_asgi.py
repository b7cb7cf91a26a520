"""The ASGI half of web_apps.py (Python 3 syntax): a FastAPI app, or a
Starlette one where FastAPI is not installed, behind pyinstrument's ASGI
middleware."""
import asyncio

from web_apps import asgi_alpha_view_spinner_q3, asgi_beta_view_spinner_k4, middleware_options


def asgi_app(**options):
    """The FastAPI (else Starlette) app, wrapped: `options` go to the ASGI
    middleware. Returns (framework name, app)."""
    from pyinstrument.asgi import ProfilerMiddleware

    try:
        import fastapi
    except ImportError:
        fastapi = None

    async def alpha_page(seconds):
        # Computes, awaits, computes: the await is part of the request.
        asgi_alpha_view_spinner_q3(seconds / 2)
        await asyncio.sleep(0.01)
        asgi_alpha_view_spinner_q3(seconds / 2)
        return 'alpha page\n'

    async def beta_page(seconds):
        asgi_beta_view_spinner_k4(seconds)
        return 'beta page\n'

    if fastapi is not None:
        from fastapi.responses import PlainTextResponse
        app = fastapi.FastAPI()

        @app.get('/alpha/', response_class=PlainTextResponse)
        async def alpha(seconds: float = 0.2):
            return await alpha_page(seconds)

        @app.get('/beta/', response_class=PlainTextResponse)
        async def beta(seconds: float = 0.2):
            return await beta_page(seconds)

        @app.get('/boom/')
        async def boom():
            raise RuntimeError('the view failed on purpose')

        app.add_middleware(ProfilerMiddleware, **middleware_options(**options))
        return 'FastAPI %s' % fastapi.__version__, app

    import starlette
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    def view(page):
        async def endpoint(request):
            return PlainTextResponse(await page(float(request.query_params.get('seconds', '0.2'))))
        return endpoint

    async def boom(request):
        raise RuntimeError('the view failed on purpose')

    app = Starlette(routes=[Route('/alpha/', view(alpha_page)), Route('/beta/', view(beta_page)),
                            Route('/boom/', boom)])
    return 'Starlette %s' % starlette.__version__, ProfilerMiddleware(app, **middleware_options(**options))
