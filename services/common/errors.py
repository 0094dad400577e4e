"""Domain errors, one class per kind of broken rule, and their gRPC status codes.

Domain code raises these; the server interceptor turns them into a status with details
(google.rpc.BadRequest for invalid fields, ErrorInfo for preconditions). Nothing else reaches
the caller as INTERNAL except a real bug, which is logged with its stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

DOMAIN = "linli.v1"

# Errors travel in trailing metadata, which default clients read only up to 8 KiB (16 KiB for
# everything together): nothing taken from the input may make them large. Values quoted from a
# request are cut to QUOTE_MAX characters, messages to MESSAGE_MAX, one field violation to
# DESCRIPTION_MAX, and a status's details to DETAILS_MAX bytes (the trailer carries them base64).
QUOTE_MAX = 64
FIELD_MAX = 128
DESCRIPTION_MAX = 256
MESSAGE_MAX = 512
MAX_LISTED_VIOLATIONS = 20
DETAILS_MAX = 1024


def cut(text: str, limit: int) -> str:
    """`text`, or its first characters and an ellipsis when it is longer than `limit`."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def quote(value: Any) -> str:
    """A value from a request, quoted for a message or a log line, at most QUOTE_MAX long."""
    return repr(cut(value, QUOTE_MAX) if isinstance(value, str) else value)[: QUOTE_MAX + 8]


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class DomainError(Exception):
    code: grpc.StatusCode = grpc.StatusCode.INTERNAL

    def __init__(self, message: str) -> None:
        message = cut(message, MESSAGE_MAX)
        super().__init__(message)
        self.message = message

    def details(self) -> list[any_pb2.Any]:
        return []

    def to_status(self) -> status_pb2.Status:
        status = status_pb2.Status(code=self.code.value[0], message=self.message)
        # Details a subclass built from input could still be large in sum: past the bound they
        # are left out (the message still says what is wrong).
        details = self.details()
        if sum(d.ByteSize() for d in details) <= DETAILS_MAX:
            status.details.extend(details)
        return status


class InvalidArgument(DomainError):
    """One or more fields are wrong; every one is named."""

    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(
        self, violations: list[FieldViolation] | FieldViolation, message: str | None = None
    ) -> None:
        if isinstance(violations, FieldViolation):
            violations = [violations]
        self.violations = violations
        if message is None:
            summary = "; ".join(
                f"{v.field}: {v.description}" for v in map(_bounded, violations[:5])
            )
            more = f" (and {len(violations) - 5} more)" if len(violations) > 5 else ""
            message = f"invalid argument: {cut(summary, MESSAGE_MAX - 40)}{more}"
        super().__init__(message)

    def details(self) -> list[any_pb2.Any]:
        # As many violations as fit in DETAILS_MAX, in order: the first ones are always named.
        bad = error_details_pb2.BadRequest()
        for v in map(_bounded, self.violations[:MAX_LISTED_VIOLATIONS]):
            bad.field_violations.add(field=v.field, description=v.description)
            if bad.ByteSize() > DETAILS_MAX - 64:
                del bad.field_violations[-1]
                break
        packed = any_pb2.Any()
        packed.Pack(bad)
        return [packed]


def _bounded(v: FieldViolation) -> FieldViolation:
    return FieldViolation(cut(v.field, FIELD_MAX), cut(v.description, DESCRIPTION_MAX))


def invalid(field: str, description: str) -> InvalidArgument:
    return InvalidArgument(FieldViolation(field, description))


class _WithReason(DomainError):
    def __init__(self, message: str, reason: str, **metadata: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.metadata = {k: cut(v, QUOTE_MAX) for k, v in metadata.items()}

    def details(self) -> list[any_pb2.Any]:
        packed = any_pb2.Any()
        packed.Pack(
            error_details_pb2.ErrorInfo(reason=self.reason, domain=DOMAIN, metadata=self.metadata)
        )
        return [packed]


class NotFound(DomainError):
    code = grpc.StatusCode.NOT_FOUND

    def __init__(self, resource: str, resource_id: str) -> None:
        super().__init__(f"{resource} {quote(resource_id)} not found")
        self.resource = resource
        self.resource_id = cut(resource_id, QUOTE_MAX)

    def details(self) -> list[any_pb2.Any]:
        packed = any_pb2.Any()
        packed.Pack(
            error_details_pb2.ResourceInfo(
                resource_type=self.resource, resource_name=self.resource_id
            )
        )
        return [packed]


class AlreadyExists(_WithReason):
    code = grpc.StatusCode.ALREADY_EXISTS

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message, "ALREADY_EXISTS", field=field)
        self.field = field


class FailedPrecondition(_WithReason):
    code = grpc.StatusCode.FAILED_PRECONDITION


class Aborted(_WithReason):
    code = grpc.StatusCode.ABORTED


class ResourceExhausted(DomainError):
    """A caller used up an allowance (for example, changes a day)."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class PermissionDenied(DomainError):
    code = grpc.StatusCode.PERMISSION_DENIED


class Unauthenticated(DomainError):
    code = grpc.StatusCode.UNAUTHENTICATED


assert grpc.StatusCode.INVALID_ARGUMENT.value[0] == code_pb2.INVALID_ARGUMENT
