"""Signing in through the identity service (user name, password, and a TOTP code for
administrators), signing out (the sign-in is revoked), and the language switch."""

from __future__ import annotations

import grpc
from grpc import aio
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from linli.v1 import identity_pb2
from services.console.i18n import LANGUAGES
from services.console.session import STAFF_ROLES, Session
from services.console.web import checked_form, console, local_path, page, see_other, session


async def sign_in_form(request: Request) -> Response:
    if await session(request) is not None:
        return see_other("/")
    return page(request, "signin.html", user="", error="")


async def sign_in(request: Request) -> Response:
    form = await checked_form(request)
    c = console(request)
    user = str(form.get("user_name", "")).strip()
    try:
        answer = await c.stubs.identity.SignIn(
            identity_pb2.SignInRequest(
                user_name=user,
                password=str(form.get("password", "")),
                totp_code=str(form.get("totp_code", "")).strip(),
            ),
            timeout=c.settings.console_call_timeout_s,
        )
    except aio.AioRpcError as e:
        # One message for every refusal: a wrong name, password or code, or a lock-out.
        if e.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            raise
        return page(request, "signin.html", 401, user=user, error="refused")
    if answer.tokens.principal.role not in STAFF_ROLES:
        await c.stubs.identity.SignOut(
            identity_pb2.SignOutRequest(refresh_token=answer.tokens.refresh_token),
            timeout=c.settings.console_call_timeout_s,
        )
        return page(request, "signin.html", 403, user=user, error="staff_only")
    request.state.reseal = Session.signed_in(user, answer.tokens, c.clock())
    return see_other("/")


async def sign_out(request: Request) -> Response:
    await checked_form(request)
    s = await session(request)
    c = console(request)
    if s is not None:
        await c.stubs.identity.SignOut(
            identity_pb2.SignOutRequest(refresh_token=s.refresh),
            timeout=c.settings.console_call_timeout_s,
        )
    request.state.reseal = None
    request.state.signed_out = True
    return see_other("/signin")


async def switch_language(request: Request) -> Response:
    form = await checked_form(request)
    to = str(form.get("to", ""))
    response = see_other(local_path(str(form.get("back", "/"))))
    c = console(request)
    if to in LANGUAGES:
        response.set_cookie(
            c.cookie("lang"),
            to,
            max_age=365 * 86400,
            httponly=True,
            secure=c.settings.secure_cookies(),
            samesite="strict",
        )
    return response


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


ROUTES = [
    Route("/signin", sign_in_form, methods=["GET"]),
    Route("/signin", sign_in, methods=["POST"]),
    Route("/signout", sign_out, methods=["POST"]),
    Route("/lang", switch_language, methods=["POST"]),
    Route("/healthz", healthz, methods=["GET"]),
]
