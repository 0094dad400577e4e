"""The server interceptor every service uses: request id, token check, deadline, error mapping, log.

Each call gets a request id (the caller's `x-request-id` or a new one, returned in the trailing
metadata), a verified Principal, a timeout equal to the caller's remaining deadline, one log line
with method, principal, status and duration, and a proper status for every domain error.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import grpc
from grpc import aio
from grpc_status import rpc_status

from services.common import auth
from services.common.errors import DomainError
from services.common.settings import Settings

log = logging.getLogger("linli.rpc")

# Database errors that mean a concurrent writer won the race for the same row.
LOST_RACES = (
    asyncpg.UniqueViolationError,
    asyncpg.ExclusionViolationError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
)

# Standard services any client or probe may call without a token.
OPEN_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


class _CallLog:
    def __init__(self, method: str, request_id: str) -> None:
        self.method = method
        self.request_id = request_id
        self.started = time.perf_counter()
        self.code = grpc.StatusCode.OK
        self.principal = "-"

    def done(self) -> None:
        ms = (time.perf_counter() - self.started) * 1000
        level = logging.WARNING if self.code is grpc.StatusCode.INTERNAL else logging.INFO
        log.log(
            level,
            "rpc method=%s request_id=%s principal=%s status=%s duration_ms=%.1f",
            self.method,
            self.request_id,
            self.principal,
            self.code.name,
            ms,
        )


class ServerInterceptor(aio.ServerInterceptor):
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        method: str = details.method  # type: ignore[attr-defined]
        if handler is None or method.startswith(OPEN_PREFIXES):
            return handler
        metadata = dict(details.invocation_metadata or ())  # type: ignore[attr-defined]
        request_id = str(metadata.get("x-request-id") or uuid.uuid4())
        kwargs = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(handler.unary_unary, method, request_id), **kwargs
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                self._wrap_unary(handler.stream_unary, method, request_id), **kwargs
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(handler.unary_stream, method, request_id), **kwargs
            )
        return grpc.stream_stream_rpc_method_handler(
            self._wrap_stream(handler.stream_stream, method, request_id), **kwargs
        )

    async def _enter(self, context: aio.ServicerContext, call: _CallLog) -> None:
        context.set_trailing_metadata((("x-request-id", call.request_id),))
        principal = auth.verify_token(
            self._settings, auth.token_from_metadata(context.invocation_metadata())
        )
        call.principal = f"{principal.role.value}:{principal.subject}"
        auth.set_current_principal(principal)

    async def _fail(
        self, context: aio.ServicerContext, call: _CallLog, exc: BaseException, deadline_hit: bool
    ) -> None:
        """Turn an exception into the call's status. Always raises (abort does)."""
        if isinstance(exc, DomainError):
            call.code = exc.code
            converted = rpc_status.to_status(exc.to_status())
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
        if isinstance(
            exc, (TimeoutError, OSError, asyncpg.InterfaceError, asyncpg.CannotConnectNowError)
        ):
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

    @staticmethod
    def _remaining(context: aio.ServicerContext) -> float | None:
        remaining = context.time_remaining()
        return None if remaining is None else max(remaining, 0.0)

    def _wrap_unary(
        self, behaviour: Callable[..., Awaitable[Any]], method: str, request_id: str
    ) -> Callable[[Any, aio.ServicerContext], Awaitable[Any]]:
        async def wrapper(request: Any, context: aio.ServicerContext) -> Any:
            call = _CallLog(method, request_id)
            deadline = asyncio.timeout_at(None)
            try:
                await self._enter(context, call)
                async with deadline:
                    deadline.reschedule(_when(self._remaining(context)))
                    return await behaviour(request, context)
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
        self, behaviour: Callable[..., AsyncIterator[Any]], method: str, request_id: str
    ) -> Callable[[Any, aio.ServicerContext], AsyncIterator[Any]]:
        # No timeout is held across `yield`: a response stream is paced by its reader, and gRPC
        # itself ends the call at the caller's deadline.
        async def wrapper(request: Any, context: aio.ServicerContext) -> AsyncIterator[Any]:
            call = _CallLog(method, request_id)
            try:
                await self._enter(context, call)
                async for response in behaviour(request, context):
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
