"""The call gate: counts the API calls in flight and refuses new ones once a stop begins."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from grpc import aio

from services.common.interceptors.rewrap import rewrapped


class CallGate(aio.ServerInterceptor):
    """Counts the API calls in flight and, once closed, refuses new ones with UNAVAILABLE.

    gRPC's own stop kills calls that reached the server but were not yet handed to Python with
    CANCELLED, which a client cannot tell from its own cancellation. So the runtime closes this
    gate first, keeps the server taking calls (each refused at once, retryably) until the calls
    in flight are done, and only then stops the server. Calls still running at the end of the
    grace period are ended with UNAVAILABLE rather than cut off.
    """

    def __init__(self, open_prefixes: tuple[str, ...]) -> None:
        self._open_prefixes = open_prefixes
        self._closed = False
        self._aborting = False
        self._in_flight: set[asyncio.Task[Any]] = set()
        self._last_arrival = time.monotonic()

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def close(self) -> None:
        self._closed = True

    async def wait_idle(
        self, timeout: float, quiet_s: float = 0.2, quiet_cap_s: float = 1.0
    ) -> bool:
        """Wait until no call is in flight and none arrived for quiet_s (or none has been in
        flight for quiet_cap_s, for clients that keep retrying on this connection: stopping the
        server moves them elsewhere); False when calls are still in flight at the timeout."""
        deadline = time.monotonic() + timeout
        idle_since: float | None = None
        while time.monotonic() < deadline:
            now = time.monotonic()
            if self._in_flight:
                idle_since = None
            else:
                idle_since = idle_since or now
                if now - self._last_arrival >= quiet_s or now - idle_since >= quiet_cap_s:
                    return True
            await asyncio.sleep(0.02)
        return not self._in_flight

    def abort_all(self) -> None:
        """End every call still in flight with UNAVAILABLE (see the wrappers)."""
        self._aborting = True
        for task in list(self._in_flight):
            task.cancel()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        method: str = details.method  # type: ignore[attr-defined]
        if handler is None or method.startswith(self._open_prefixes):
            return handler
        self._last_arrival = time.monotonic()
        return rewrapped(
            handler,
            unary=self._unary,
            stream=self._stream,
            request_deserializer=handler.request_deserializer,
        )

    async def _refuse(self, context: aio.ServicerContext, why: str) -> None:
        await context.abort(grpc.StatusCode.UNAVAILABLE, f"{why}; retry the call")

    @contextlib.asynccontextmanager
    async def _counted(self, context: aio.ServicerContext) -> AsyncIterator[None]:
        """One call in flight: refused once the gate is closed, counted while it runs, and ended
        UNAVAILABLE when `abort_all` cancels it."""
        if self._closed:
            await self._refuse(context, "the service is stopping")
        task = asyncio.current_task()
        assert task is not None
        self._in_flight.add(task)
        try:
            yield
        except asyncio.CancelledError:
            if not self._aborting:
                raise
            task.uncancel()
            await self._refuse(context, "the service stopped before the call finished")
        finally:
            self._in_flight.discard(task)

    def _unary(
        self, behaviour: Callable[..., Awaitable[Any]]
    ) -> Callable[[Any, aio.ServicerContext], Awaitable[Any]]:
        async def wrapper(request: Any, context: aio.ServicerContext) -> Any:
            async with self._counted(context):
                return await behaviour(request, context)

        return wrapper

    def _stream(
        self, behaviour: Callable[..., AsyncIterator[Any]]
    ) -> Callable[[Any, aio.ServicerContext], AsyncIterator[Any]]:
        async def wrapper(request: Any, context: aio.ServicerContext) -> AsyncIterator[Any]:
            async with self._counted(context):
                async for response in behaviour(request, context):
                    yield response

        return wrapper
