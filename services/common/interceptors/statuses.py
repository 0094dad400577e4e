"""Domain errors as gRPC statuses: one table from each kind of error to its status code and the
google.rpc details that tell a caller what to do about it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.protobuf import message as pb_message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from services.common.errors import (
    DETAILS_MAX,
    DOMAIN,
    MAX_LISTED_VIOLATIONS,
    Aborted,
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    bounded,
)

Details = Callable[[Any], list[pb_message.Message]]


def _bad_request(error: InvalidArgument) -> list[pb_message.Message]:
    # As many violations as fit in DETAILS_MAX, in order: the first ones are always named.
    bad = error_details_pb2.BadRequest()
    for v in map(bounded, error.violations[:MAX_LISTED_VIOLATIONS]):
        bad.field_violations.add(field=v.field, description=v.description)
        if bad.ByteSize() > DETAILS_MAX - 64:
            del bad.field_violations[-1]
            break
    return [bad]


def _resource_info(error: NotFound) -> list[pb_message.Message]:
    return [
        error_details_pb2.ResourceInfo(
            resource_type=error.resource, resource_name=error.resource_id
        )
    ]


def _error_info(error: AlreadyExists | FailedPrecondition | Aborted) -> list[pb_message.Message]:
    return [
        error_details_pb2.ErrorInfo(reason=error.reason, domain=DOMAIN, metadata=error.metadata)
    ]


def _retry(error: ResourceExhausted | Unavailable) -> list[pb_message.Message]:
    out: list[pb_message.Message] = []
    if error.reason:
        out.append(error_details_pb2.ErrorInfo(reason=error.reason, domain=DOMAIN))
    if error.retry_after_s is not None:
        delay = duration_pb2.Duration()
        delay.FromMilliseconds(int(error.retry_after_s * 1000))
        out.append(error_details_pb2.RetryInfo(retry_delay=delay))
    return out


def _nothing(_error: DomainError) -> list[pb_message.Message]:
    return []


# Each kind of domain error, its status code and its details. A subclass (a service's own error)
# is told as the nearest kind it derives from; a DomainError of no kind here is a bug: INTERNAL.
STATUSES: dict[type[DomainError], tuple[grpc.StatusCode, Details]] = {
    InvalidArgument: (grpc.StatusCode.INVALID_ARGUMENT, _bad_request),
    NotFound: (grpc.StatusCode.NOT_FOUND, _resource_info),
    AlreadyExists: (grpc.StatusCode.ALREADY_EXISTS, _error_info),
    FailedPrecondition: (grpc.StatusCode.FAILED_PRECONDITION, _error_info),
    Aborted: (grpc.StatusCode.ABORTED, _error_info),
    ResourceExhausted: (grpc.StatusCode.RESOURCE_EXHAUSTED, _retry),
    PermissionDenied: (grpc.StatusCode.PERMISSION_DENIED, _nothing),
    Unauthenticated: (grpc.StatusCode.UNAUTHENTICATED, _nothing),
    Unavailable: (grpc.StatusCode.UNAVAILABLE, _retry),
}
_UNKNOWN_KIND = (grpc.StatusCode.INTERNAL, _nothing)


def _entry(error: BaseException) -> tuple[grpc.StatusCode, Details]:
    for kind in type(error).__mro__:
        if kind in STATUSES:
            return STATUSES[kind]  # type: ignore[index]
    return _UNKNOWN_KIND


def status_code(error: BaseException) -> grpc.StatusCode:
    """The status code a caller gets for `error` (INTERNAL for what is no domain error)."""
    return _entry(error)[0]


def details(error: DomainError) -> list[any_pb2.Any]:
    """The google.rpc details a caller gets with `error`, packed."""
    packed = []
    for message in _entry(error)[1](error):
        detail = any_pb2.Any()
        detail.Pack(message)
        packed.append(detail)
    return packed


def to_status(error: DomainError) -> status_pb2.Status:
    """The google.rpc.Status of `error`: its code, its message and, if small enough, its details."""
    code = status_code(error)
    status = status_pb2.Status(code=code.value[0], message=error.message)
    # Details built from input could still be large in sum: past the bound they are left out
    # (the message still says what is wrong).
    packed = details(error)
    if sum(d.ByteSize() for d in packed) <= DETAILS_MAX:
        status.details.extend(packed)
    return status


def as_grpc_status(error: DomainError) -> grpc.Status:
    """`error` as what `context.abort` takes: code, message, and the details in the trailer."""
    return rpc_status.to_status(to_status(error))


assert grpc.StatusCode.INVALID_ARGUMENT.value[0] == code_pb2.INVALID_ARGUMENT
