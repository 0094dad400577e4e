"""What every page of the console shares: the app's parts, the signed-in session (refreshed
before its access token runs out), the CSRF check of every form, the services' answers turned
into pages and field errors, and the response headers (CSP and friends)."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import grpc
import jinja2
from google.rpc import error_details_pb2, status_pb2
from grpc import aio
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from linli.v1 import identity_pb2, notifications_pb2
from services.client import Stubs, bearer
from services.common.settings import ConsoleSettings
from services.console.i18n import CatalogTranslations, pick
from services.console.nav import NAV
from services.console.session import Sealer, Session

# No inline script or style anywhere; the report (a document of its own) says its own policy.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


class Refresher:
    """One Refresh per refresh token, however many requests of one browser need it at once (two
    tabs, a page and its fragments): the identity service takes a spent refresh token presented
    again as stolen and ends the whole sign-in. The answer is kept a little while for the
    requests that still carry the old cookie."""

    def __init__(self, keep_s: float = 120.0) -> None:
        self.keep_s = keep_s
        self._calls: dict[str, tuple[float, asyncio.Future[identity_pb2.Tokens]]] = {}

    async def refresh(
        self, stubs: Stubs, token: str, timeout: float, now: float
    ) -> identity_pb2.Tokens:
        for old in [k for k, (at, _) in self._calls.items() if now - at > self.keep_s]:
            del self._calls[old]
        if token not in self._calls:

            async def call() -> identity_pb2.Tokens:
                answer = await stubs.identity.Refresh(
                    identity_pb2.RefreshRequest(refresh_token=token), timeout=timeout
                )
                return answer.tokens

            self._calls[token] = (now, asyncio.ensure_future(call()))
        return await asyncio.shield(self._calls[token][1])


@dataclass
class Console:
    """The app's parts, built once by app.build."""

    settings: ConsoleSettings
    stubs: Stubs
    sealer: Sealer
    envs: dict[str, jinja2.Environment]
    tr: dict[str, CatalogTranslations]
    clock: Callable[[], float] = time.time
    refresher: Refresher = field(default_factory=Refresher)
    cookie_prefix: str = field(init=False)

    def __post_init__(self) -> None:
        # __Host- cookies are sent only to this host over HTTPS, with no Domain: no other site
        # under the same domain can set or overwrite them.
        self.cookie_prefix = "__Host-" if self.settings.secure_cookies() else ""

    def cookie(self, name: str) -> str:
        return f"{self.cookie_prefix}linli_{name}"


class SignInNeeded(Exception):
    """No session, or one that cannot be refreshed: the page sends the browser to sign in."""


class CsrfRefused(Exception):
    """A form came without this browser's CSRF token."""


class NotThere(Exception):
    """What the URL names is not there for this user (missing, or not theirs: the same page)."""


def noted(request: Request, name: str) -> Any:
    """What this request noted for the way out (its session, a cookie to set), or None."""
    return getattr(request.state, name, None)


def console(request: Request) -> Console:
    return request.app.state.console  # type: ignore[no-any-return]


def lang(request: Request) -> str:
    return pick(request.cookies.get(console(request).cookie("lang")))


def t(request: Request, message: str) -> str:
    return console(request).tr[lang(request)].gettext(message)


async def session(request: Request) -> Session | None:
    """The request's session, its access token refreshed when it is about to run out (the new
    cookie is set on the way out)."""
    if getattr(request.state, "looked_up", False):
        return noted(request, "session")
    c = console(request)
    now = c.clock()
    found = c.sealer.open(request.cookies.get(c.cookie("session")), now)
    if found is not None and found.access_exp - now < c.settings.console_refresh_margin_s:
        try:
            tokens = await c.refresher.refresh(
                c.stubs, found.refresh, c.settings.console_call_timeout_s, now
            )
        except aio.AioRpcError as e:
            if e.code() not in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.NOT_FOUND):
                raise
            found = None  # revoked or spent: sign in again
            request.state.signed_out = True
        else:
            found = found.refreshed(tokens)
            request.state.reseal = found
    request.state.session = found
    request.state.looked_up = True
    return found


async def signed_in(request: Request) -> Session:
    found = await session(request)
    if found is None:
        raise SignInNeeded
    return found


def csrf_binding(request: Request, s: Session | None) -> str:
    """What this browser's CSRF token is bound to: its session, or its pre-session id."""
    if s is not None:
        return s.sid
    c = console(request)
    pre = request.cookies.get(c.cookie("pre")) or getattr(request.state, "new_pre", "")
    if not pre:
        pre = secrets.token_urlsafe(18)
        request.state.new_pre = pre
    return pre


async def checked_form(request: Request) -> FormData:
    """The posted form, once its CSRF token is this browser's (else CsrfRefused)."""
    s = await session(request)
    form = await request.form()
    given = form.get("csrf") or request.headers.get("x-csrf-token") or ""
    c = console(request)
    bound = s.sid if s is not None else request.cookies.get(c.cookie("pre"), "")
    if not isinstance(given, str) or not c.sealer.csrf_ok(bound, given):
        raise CsrfRefused
    return form


class Api:
    """The services as the signed-in user: their stubs with the user's token and a deadline."""

    def __init__(self, c: Console, s: Session) -> None:
        self.stubs = c.stubs
        self.md = bearer(s.access)
        self.timeout = c.settings.console_call_timeout_s
        self.run_timeout = c.settings.console_run_timeout_s

    async def __call__(
        self, method: Callable[..., Awaitable[Any]], request: Any, timeout: float | None = None
    ) -> Any:
        return await method(request, metadata=self.md, timeout=timeout or self.timeout)


async def api(request: Request) -> tuple[Api, Session]:
    s = await signed_in(request)
    a = Api(console(request), s)
    if request.method == "GET" and not hasattr(request.state, "unread"):
        request.state.unread = await unread_count(a)
    return a, s


async def unread_count(a: Api) -> int | None:
    """The inbox's count for the navigation; None when the notifications service does not
    answer, so that no page fails for its badge."""
    try:
        got = await a(
            a.stubs.notifications.GetUnreadCount, notifications_pb2.GetUnreadCountRequest()
        )
    except LookupError:
        return None  # no address for the service: a console without inboxes
    except aio.AioRpcError as e:
        if e.code() == grpc.StatusCode.UNAUTHENTICATED:
            raise
        return None
    return int(got.unread)


def field_errors(err: aio.AioRpcError) -> dict[str, str]:
    """field -> why, from the google.rpc.BadRequest of a refused call."""
    out: dict[str, str] = {}
    for key, value in err.trailing_metadata() or ():
        if key != "grpc-status-details-bin" or not isinstance(value, bytes):
            continue
        status = status_pb2.Status.FromString(value)
        for detail in status.details:
            bad = error_details_pb2.BadRequest()
            if detail.Unpack(bad):
                for v in bad.field_violations:
                    out.setdefault(v.field, v.description)
    return out


def errors_for(
    err: aio.AioRpcError,
    prefix: str,
    fields: tuple[str, ...],
    aliases: dict[str, str] | None = None,
) -> dict[str, str]:
    """The refusal's field errors by the form's field names: `wish.window.start` goes to the
    field `window`, an alias maps an API path to a form field (`weekly.days` to `days`); what
    names no field of the form goes under "" (shown above the form)."""
    paths = sorted({**{f: f for f in fields}, **(aliases or {})}.items(), key=lambda x: -len(x[0]))
    found: dict[str, str] = {}
    for name, why in field_errors(err).items():
        short = name.removeprefix(prefix)
        home = next((f for p, f in paths if short == p or short.startswith((p + ".", p + "["))), "")
        label = "" if home else name
        found[home] = "; ".join(x for x in (found.get(home), f"{label} {why}".strip()) if x)
    if not found:
        found[""] = err.details() or err.code().name
    return found


def page(request: Request, template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    c = console(request)
    language = lang(request)
    s: Session | None = noted(request, "session")
    body = (
        c.envs[language]
        .get_template(template)
        .render(
            request=request,
            lang=language,
            s=s,
            csrf=c.sealer.csrf_token(csrf_binding(request, s)),
            nav=NAV if s is not None else (),
            unread=noted(request, "unread"),
            **{"section": "", **ctx},
        )
    )
    return HTMLResponse(body, status_code=status)


def local_path(value: str) -> str:
    """`value` when it is a path of this site, else "/": a form never sends the browser
    elsewhere (browsers read "/\\x" as "//x", another host)."""
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//"):
        return "/"
    if "\\" in value or any(ord(ch) < 32 for ch in value):
        return "/"
    return value


def see_other(path: str) -> RedirectResponse:
    """After a form: the browser GETs the answer (a reload does not post again)."""
    return RedirectResponse(path, status_code=303)


def finish(request: Request, response: Response) -> Response:
    """Headers every answer carries, and the cookies this request changed."""
    c = console(request)
    for k, v in HEADERS.items():
        response.headers.setdefault(k, v)
    if request.url.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "public, max-age=3600")
    else:
        # Pages hold personal data: no shared cache keeps them, the browser does not store them.
        response.headers.setdefault("Cache-Control", "no-store")
    secure = c.settings.secure_cookies()
    reseal: Session | None = noted(request, "reseal")
    if reseal is not None:
        response.set_cookie(
            c.cookie("session"),
            c.sealer.seal(reseal),
            max_age=c.settings.console_session_max_s,
            httponly=True,
            secure=secure,
            samesite="strict",
        )
    if noted(request, "signed_out"):
        response.delete_cookie(c.cookie("session"), secure=secure, httponly=True, samesite="strict")
    new_pre = noted(request, "new_pre")
    if new_pre:
        response.set_cookie(
            c.cookie("pre"), new_pre, httponly=True, secure=secure, samesite="strict"
        )
    return response
