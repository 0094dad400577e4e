"""The server interceptor every service uses: request id, token check, bad input, deadline, error
mapping, log and metrics."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from typing import Any

import asyncpg
import grpc
from google.protobuf.descriptor import ServiceDescriptor
from grpc import aio
from opentelemetry import trace

from services.common import audit, auth, logs, metrics, paging
from services.common.errors import DomainError, PermissionDenied, quote
from services.common.interceptors.admission import (
    admit,
    admit_each,
    admit_stream,
    drain_refused,
    open_method,
    tolerant,
)
from services.common.interceptors.rewrap import rewrapped
from services.common.interceptors.statuses import as_grpc_status
from services.common.settings import Settings
from services.common.tokens import TokenVerifier

log = logging.getLogger("linli.rpc")


# Database errors that mean a concurrent writer won the race for the same row.
LOST_RACES = (
    asyncpg.UniqueViolationError,
    asyncpg.ExclusionViolationError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
)

# The database (or the way to it) went away during the call: the caller may retry, with the same
# request id where the method takes one. A backend ended by pg_terminate_backend or a restart
# raises AdminShutdownError mid-query and ConnectionDoesNotExistError after; a pooled connection
# whose backend ended while it was idle answers its next query with InternalClientError ("another
# operation is in progress") until asyncpg notices the closed socket.
UNAVAILABLE_ERRORS = (
    TimeoutError,
    OSError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,
    asyncpg.InternalClientError,
)

# Standard services any client or probe may call without a token.
OPEN_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")

# A caller's request id goes into every log line of the call: only plain tokens are kept, so that
# nobody can forge log lines (a newline) or flood them.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def methods(service: ServiceDescriptor, *names: str) -> frozenset[str]:
    """The full paths (`/package.Service/Method`) of a service's methods, checked to exist."""
    return frozenset(f"/{service.full_name}/{service.methods_by_name[n].name}" for n in names)


def request_id_from(given: object) -> str:
    """The caller's request id when it is a plain token; else a fresh one (and a log line)."""
    if isinstance(given, str) and REQUEST_ID.fullmatch(given):
        return given
    fresh = str(uuid.uuid4())
    if given:
        log.warning("replaced the caller's request id %s with %s", quote(given), fresh)
    return fresh


class _CallLog:
    def __init__(self, service: str, method: str, request_id: str) -> None:
        self.service = service
        self.method = method
        self.request_id = request_id
        self.started = time.perf_counter()
        self.code = grpc.StatusCode.OK
        self.principal = "-"
        # Every line of this call carries its request id and service (each call is a task).
        logs.bind(service=service, request_id=request_id, principal=self.principal)

    def done(self) -> None:
        seconds = time.perf_counter() - self.started
        # The code the caller got, errors mapped from domain errors included.
        metrics.observe_call(self.service, self.method.rsplit("/", 1)[-1], self.code.name, seconds)
        level = logging.WARNING if self.code is grpc.StatusCode.INTERNAL else logging.INFO
        log.log(
            level,
            "rpc %s %s",
            self.method,
            self.code.name,
            extra={
                "grpc_method": self.method,
                "grpc_code": self.code.name,
                "duration_ms": round(seconds * 1000, 1),
            },
        )


class ServerInterceptor(aio.ServerInterceptor):
    """Request id, token, the checks at the door, the caller's deadline, the log line, and the
    mapping of domain errors to status codes, for every call but health and reflection.

    `staff_only` names the methods (`/package.Service/Method`) that a member may never call: a
    member is refused them before the request is looked at, so that what is wrong with a request
    is told only to a caller who may make it. The services' own rules still decide everything
    finer (which community, which task).

    With `audit_to` (a writer on the service's pool), the personal data an answer shows (noted
    through `audit.note_reveal` while it is built) is written to the audit log before the answer
    leaves: an answer whose reveal cannot be recorded is not sent.

    `public` names the methods anyone may call without a token (signing in): they pass every
    other check. `verify` checks a token (by default a TokenVerifier from the settings: the
    identity service's JWKS or an external issuer; the identity service trusts its own keys
    without asking itself over HTTP)."""

    def __init__(
        self,
        settings: Settings,
        staff_only: Collection[str] = (),
        public: Collection[str] = (),
        verify: Callable[[str], Awaitable[auth.Principal]] | None = None,
        audit_to: audit.RevealWriter | None = None,
    ) -> None:
        self._settings = settings
        self._verify = verify or TokenVerifier.from_settings(settings).verify
        self._audit_to = audit_to
        self._page_key = settings.page_token_key()
        self._staff_only = frozenset(staff_only)
        self._public = frozenset(public)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        method: str = details.method  # type: ignore[attr-defined]
        if handler is None:
            return handler
        if method.startswith(OPEN_PREFIXES):
            return open_method(handler)
        metadata = dict(details.invocation_metadata or ())  # type: ignore[attr-defined]
        request_id = request_id_from(metadata.get("x-request-id"))
        streamed = handler.request_streaming
        return rewrapped(
            handler,
            unary=lambda behaviour: self._wrap_unary(behaviour, method, request_id, streamed),
            stream=lambda behaviour: self._wrap_stream(behaviour, method, request_id, streamed),
            request_deserializer=tolerant(handler.request_deserializer),
        )

    async def _enter(self, context: aio.ServicerContext, call: _CallLog) -> None:
        context.set_trailing_metadata((("x-request-id", call.request_id),))
        # The call's span (when tracing) is found by the request id a caller or a log line gives.
        span = trace.get_current_span()
        span.set_attribute("linli.request_id", call.request_id)
        if call.method in self._public:
            paging.set_signing_key(self._page_key)
            return
        principal = await self._verify(auth.token_from_metadata(context.invocation_metadata()))
        span.set_attribute("linli.principal.role", principal.role.value)
        call.principal = f"{principal.role.value}:{principal.subject}"
        logs.bind(principal=call.principal)
        auth.set_current_principal(principal)
        audit.begin_call(principal, call.method, call.request_id)
        if principal.role is auth.Role.MEMBER and call.method in self._staff_only:
            raise PermissionDenied(f"members may not call {call.method.rsplit('/', 1)[-1]}")
        paging.set_signing_key(self._page_key)

    @staticmethod
    async def _admitted(request: Any, streamed: bool, conversation: bool = False) -> Any:
        # Checked after the token: a caller without one learns nothing, not even what is wrong.
        if not streamed:
            return admit(request)
        return admit_each(request) if conversation else await admit_stream(request)

    async def _fail(
        self, context: aio.ServicerContext, call: _CallLog, exc: BaseException, deadline_hit: bool
    ) -> None:
        """Turn an exception into the call's status. Always raises (abort does)."""
        if isinstance(exc, DomainError):
            converted = as_grpc_status(exc)
            call.code = converted.code
            trailing = (*converted.trailing_metadata, ("x-request-id", call.request_id))
            await context.abort(converted.code, converted.details, trailing)
        if deadline_hit:
            call.code = grpc.StatusCode.DEADLINE_EXCEEDED
            await context.abort(call.code, "deadline exceeded before the work finished")
        if isinstance(exc, LOST_RACES):
            # A concurrent change won between our checks and our write: the caller may retry.
            # (asyncpg's detail, which may quote a phone number, stays out of the log.)
            call.code = grpc.StatusCode.ABORTED
            log.warning(
                "lost a race in %s request_id=%s: %s",
                call.method,
                call.request_id,
                type(exc).__name__,
            )
            await context.abort(call.code, "a concurrent change won; retry the call")
        if isinstance(exc, UNAVAILABLE_ERRORS):
            call.code = grpc.StatusCode.UNAVAILABLE
            log.warning("unavailable in %s request_id=%s: %r", call.method, call.request_id, exc)
            await context.abort(
                call.code,
                f"a backing service is unavailable (request id {call.request_id}); retry later",
            )
        call.code = grpc.StatusCode.INTERNAL
        log.error(
            "unhandled error in %s request_id=%s: %s",
            call.method,
            call.request_id,
            type(exc).__name__,
            exc_info=exc,
        )
        await context.abort(call.code, f"internal error (request id {call.request_id})")

    async def _audit_reveals(self) -> None:
        call = audit.current_call()
        if call is not None and self._audit_to is not None:
            await self._audit_to.write(call)

    @staticmethod
    def _remaining(context: aio.ServicerContext) -> float | None:
        remaining = context.time_remaining()
        return None if remaining is None else max(remaining, 0.0)

    def _wrap_unary(
        self,
        behaviour: Callable[..., Awaitable[Any]],
        method: str,
        request_id: str,
        streamed: bool,
    ) -> Callable[[Any, aio.ServicerContext], Awaitable[Any]]:
        async def wrapper(request: Any, context: aio.ServicerContext) -> Any:
            call = _CallLog(self._settings.service_name, method, request_id)
            deadline = asyncio.timeout_at(None)
            incoming = request
            try:
                try:
                    await self._enter(context, call)
                except Exception:
                    if streamed:  # refused before its stream was read
                        await drain_refused(incoming, self._remaining(context))
                    raise
                async with deadline:
                    deadline.reschedule(_when(self._remaining(context)))
                    try:
                        request = await self._admitted(request, streamed)
                    except Exception:
                        if streamed:  # refused part-way through its stream
                            await drain_refused(incoming, self._remaining(context))
                        raise
                    response = await behaviour(request, context)
                    await self._audit_reveals()
                    return response
            except aio.AbortError:
                call.code = context.code() or grpc.StatusCode.UNKNOWN  # type: ignore[assignment]
                raise
            except asyncio.CancelledError:
                call.code = grpc.StatusCode.CANCELLED  # the caller went away
                raise
            except Exception as exc:  # noqa: BLE001 (every error becomes a status)
                await self._fail(context, call, exc, deadline.expired())
            finally:
                call.done()

        return wrapper

    def _wrap_stream(
        self,
        behaviour: Callable[..., AsyncIterator[Any]],
        method: str,
        request_id: str,
        streamed: bool,
    ) -> Callable[[Any, aio.ServicerContext], AsyncIterator[Any]]:
        # No timeout is held across `yield`: a response stream is paced by its reader, and gRPC
        # itself ends the call at the caller's deadline.
        async def wrapper(request: Any, context: aio.ServicerContext) -> AsyncIterator[Any]:
            call = _CallLog(self._settings.service_name, method, request_id)
            try:
                await self._enter(context, call)
                request = await self._admitted(request, streamed, conversation=True)
                async for response in behaviour(request, context):
                    await self._audit_reveals()
                    yield response
            except aio.AbortError:
                call.code = context.code() or grpc.StatusCode.UNKNOWN  # type: ignore[assignment]
                raise
            except asyncio.CancelledError:
                call.code = grpc.StatusCode.CANCELLED
                raise
            except Exception as exc:  # noqa: BLE001 (every error becomes a status)
                await self._fail(context, call, exc, False)
            finally:
                call.done()

        return wrapper


def _when(remaining: float | None) -> float | None:
    return None if remaining is None else asyncio.get_running_loop().time() + remaining
