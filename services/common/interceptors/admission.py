"""Requests at the door: a body that does not decode is INVALID_ARGUMENT (never UNKNOWN: gRPC
decodes it before any handler runs, so the decoder itself is wrapped), and every request passes
the generic checks of services/common/validation.py."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import Message
from grpc import aio

from services.common import validation
from services.common.errors import FieldViolation, InvalidArgument
from services.common.interceptors.rewrap import rewrapped
from services.common.interceptors.statuses import as_grpc_status

# A client stream (an import) is read whole before its handler sees the first message, so that
# a message that does not decode refuses the call with nothing written. This bounds it.
MAX_STREAMED_REQUESTS = 100_000


@dataclass(frozen=True)
class Undecodable:
    """What the decoder hands on in place of a request body that is not a valid `type_name`."""

    type_name: str


def tolerant(deserialize: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """`deserialize`, answering Undecodable instead of raising, so that the call reaches the
    interceptor's wrapper (an exception here would be UNKNOWN, with a stack trace)."""
    if deserialize is None:
        return None
    owner = getattr(deserialize, "__self__", None)
    descriptor = getattr(owner, "DESCRIPTOR", None)
    type_name = getattr(descriptor, "name", "request")

    def decode(raw: bytes) -> Any:
        try:
            return deserialize(raw)
        except Exception:  # noqa: BLE001 (DecodeError, or whatever else the decoder raises)
            return Undecodable(type_name)

    return decode


def admit(request: Any, prefix: str = "") -> Any:
    """`request` when it decoded and passes the generic checks; else InvalidArgument."""
    if isinstance(request, Undecodable):
        field = prefix.rstrip(".")
        raise InvalidArgument(
            FieldViolation(field, f"is not a valid {request.type_name}"),
            message=f"invalid argument: the request is not a valid {request.type_name}"
            + (f" ({field})" if field else ""),
        )
    if isinstance(request, Message):  # (a handler without a deserializer gets the raw bytes)
        validation.validate(request, prefix)
    return request


async def admit_stream(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """Read a whole client stream, then hand the messages on. A message that does not decode
    refuses the whole call; one that decodes is the handler's to judge, row by row (an import
    reports each bad row and lands the good ones), with `validation.check` as unary calls get."""
    received: list[Any] = []
    async for request in requests:
        if len(received) >= MAX_STREAMED_REQUESTS:
            raise InvalidArgument(
                FieldViolation("requests", f"at most {MAX_STREAMED_REQUESTS} messages per call")
            )
        if isinstance(request, Undecodable):
            admit(request, f"requests[{len(received)}].")
        received.append(request)
    return _replay(received)


# How long a refused client stream is still read, so that its caller can finish writing.
REFUSED_STREAM_DRAIN_S = 5.0


async def drain_refused(requests: Any, remaining: float | None) -> None:
    """Read what is left of a client stream the server is about to refuse (a bad token, an
    undecodable message, too many messages). grpcio's asyncio client reports a write that fails
    because the call has already ended as INTERNAL "Internal error from Core" in place of the
    server's status (grpc/grpc#36066), so a caller still writing when the refusal arrives would
    see INTERNAL. Bounded in messages and time: a caller that keeps writing gets the refusal."""
    limit = REFUSED_STREAM_DRAIN_S if remaining is None else min(remaining, REFUSED_STREAM_DRAIN_S)
    count = 0
    try:
        async with asyncio.timeout(limit):
            async for _ in requests:
                count += 1
                if count >= MAX_STREAMED_REQUESTS:
                    return
    except (TimeoutError, aio.AbortError, aio.UsageError):
        return
    except Exception:  # noqa: BLE001 (the refusal matters, not why the rest could not be read)
        return


async def _replay(received: list[Any]) -> AsyncIterator[Any]:
    for request in received:
        yield request


async def admit_each(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """Check each message of a bidirectional stream as it comes: such a stream is a
    conversation, which reading it whole first would stall."""
    index = 0
    async for request in requests:
        yield admit(request, f"requests[{index}].")
        index += 1


def open_method(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    """A health or reflection method as it is, but an undecodable request is INVALID_ARGUMENT.

    Only single-request methods: reflection's stream is a conversation, which a check reading
    ahead would stall (and its decoding errors end only that caller's stream)."""
    if handler.request_streaming:
        return handler
    return rewrapped(
        handler,
        unary=_refusing,
        stream=_refusing,
        request_deserializer=tolerant(handler.request_deserializer),
    )


def _refusing(behaviour: Callable[..., Any]) -> Callable[..., Any]:
    async def refuse(request: Any, context: aio.ServicerContext) -> None:
        if isinstance(request, Undecodable):
            try:
                admit(request)
            except InvalidArgument as e:
                converted = as_grpc_status(e)
                await context.abort(converted.code, converted.details, converted.trailing_metadata)

    # Handlers answer streams either as async generators or by context.write; keep the kind.
    if inspect.isasyncgenfunction(behaviour):

        async def each(request: Any, context: aio.ServicerContext) -> AsyncIterator[Any]:
            await refuse(request, context)
            async for response in behaviour(request, context):
                yield response

        return each

    async def once(request: Any, context: aio.ServicerContext) -> Any:
        await refuse(request, context)
        return await behaviour(request, context)

    return once
