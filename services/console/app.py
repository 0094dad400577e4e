"""The composition root of the console: settings in, a Starlette app out, with its routes, its
templates in both languages, its static files and the handlers that turn the services' refusals
into pages. Nothing is built at import time."""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import jinja2
import structlog
from grpc import aio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from services.client import Stubs, addresses
from services.common.settings import ConsoleSettings
from services.console import formats
from services.console.i18n import translations
from services.console.metrics import HTTP_REQUESTS, HTTP_SECONDS
from services.console.pages import ROUTES
from services.console.session import Sealer
from services.console.web import (
    Console,
    CsrfRefused,
    NotThere,
    SignInNeeded,
    finish,
    page,
    see_other,
)

HERE = Path(__file__).resolve().parent
log = structlog.get_logger("services.console")


def environments(tr: dict[str, object]) -> dict[str, jinja2.Environment]:
    """One template environment per language, each with its own translations installed."""
    envs = {}
    for language, translation in tr.items():
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            extensions=["jinja2.ext.i18n"],
            undefined=jinja2.StrictUndefined,
        )
        env.install_gettext_translations(translation, newstyle=True)  # type: ignore[attr-defined]
        env.filters.update(formats.FILTERS)
        envs[language] = env
    return envs


class Finish(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = getattr(request.scope.get("route"), "path", "other")
        HTTP_REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        HTTP_SECONDS.labels(route).observe(time.perf_counter() - started)
        return finish(request, response)


async def _sign_in(request: Request, _: Exception) -> Response:
    return see_other("/signin")


async def _csrf(request: Request, _: Exception) -> Response:
    return page(request, "error.html", 403, title="Refused", message="csrf")


async def _not_there(request: Request, _: Exception) -> Response:
    return page(request, "error.html", 404, title="Not found", message="missing")


async def _rpc(request: Request, err: Exception) -> Response:
    assert isinstance(err, aio.AioRpcError)
    code = err.code()
    log.info("a service refused", path=request.url.path, code=code.name, details=err.details())
    if code == grpc.StatusCode.UNAUTHENTICATED:
        # The services no longer take this sign-in (revoked, or the account disabled): drop it.
        request.state.signed_out = True
        return see_other("/signin")
    if code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED):
        # Not there, or not this user's: one page, so a URL tells nothing of what exists.
        return page(request, "error.html", 404, title="Not found", message="missing")
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return page(request, "error.html", 503, title="Try again", message="unavailable")
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return page(request, "error.html", 400, title="Not understood", message=err.details())
    return page(request, "error.html", 502, title="Refused", message=err.details())


def build(settings: ConsoleSettings, stubs: Stubs | None = None) -> Starlette:
    """The console's app. `stubs` defaults to the services found as every caller finds them."""
    settings.refuse_unsafe()
    tr = translations()
    c = Console(
        settings=settings,
        stubs=stubs or Stubs(addresses(settings=settings)),
        sealer=Sealer(settings.session_key(), settings.console_session_max_s),
        envs=environments(dict(tr)),
        tr=tr,
    )
    routes: list[BaseRoute] = [
        *ROUTES,
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(Finish)],
        exception_handlers={
            SignInNeeded: _sign_in,
            CsrfRefused: _csrf,
            NotThere: _not_there,
            aio.AioRpcError: _rpc,
            404: _not_there,
        },
    )
    app.state.console = c
    return app
