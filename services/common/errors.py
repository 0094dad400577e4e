"""Domain errors, one class per kind of broken rule, as plain Python: what was broken (the
fields, a reason code, its metadata), never how a caller is told.

Domain code raises these; the server interceptor maps each kind to a status code with details
(services/common/interceptors/statuses.py). Nothing else reaches the caller as INTERNAL except
a real bug, which is logged with its stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The domain named in every reason a caller is given (google.rpc.ErrorInfo.domain).
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
    """A rule was broken. Of no particular kind, it is a bug (the caller sees INTERNAL)."""

    def __init__(self, message: str) -> None:
        message = cut(message, MESSAGE_MAX)
        super().__init__(message)
        self.message = message


class InvalidArgument(DomainError):
    """One or more fields are wrong; every one is named."""

    def __init__(
        self, violations: list[FieldViolation] | FieldViolation, message: str | None = None
    ) -> None:
        if isinstance(violations, FieldViolation):
            violations = [violations]
        self.violations = violations
        if message is None:
            summary = "; ".join(f"{v.field}: {v.description}" for v in map(bounded, violations[:5]))
            more = f" (and {len(violations) - 5} more)" if len(violations) > 5 else ""
            message = f"invalid argument: {cut(summary, MESSAGE_MAX - 40)}{more}"
        super().__init__(message)


def bounded(v: FieldViolation) -> FieldViolation:
    """The violation with its field and description cut to what a caller is shown."""
    return FieldViolation(cut(v.field, FIELD_MAX), cut(v.description, DESCRIPTION_MAX))


def invalid(field: str, description: str) -> InvalidArgument:
    return InvalidArgument(FieldViolation(field, description))


class _WithReason(DomainError):
    """An error that names its reason code (and metadata) for callers to act on."""

    def __init__(self, message: str, reason: str, **metadata: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.metadata = {k: cut(v, QUOTE_MAX) for k, v in metadata.items()}


class NotFound(DomainError):
    def __init__(self, resource: str, resource_id: str) -> None:
        super().__init__(f"{resource} {quote(resource_id)} not found")
        self.resource = resource
        self.resource_id = cut(resource_id, QUOTE_MAX)


class AlreadyExists(_WithReason):
    def __init__(self, message: str, field: str) -> None:
        super().__init__(message, "ALREADY_EXISTS", field=field)
        self.field = field


class FailedPrecondition(_WithReason):
    pass


class Aborted(_WithReason):
    pass


class ResourceExhausted(DomainError):
    """A caller used up an allowance (for example, changes a day); with a reason, and with the
    delay after which a retry may succeed when there is one."""

    def __init__(
        self, message: str, reason: str = "", *, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.retry_after_s = retry_after_s


class Unavailable(DomainError):
    """Something the call needs outside Linli (an SMS provider) failed for now: a retry later
    may succeed, after `retry_after_s` when known."""

    def __init__(
        self, message: str, reason: str = "", *, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.retry_after_s = retry_after_s


class PermissionDenied(DomainError):
    pass


class Unauthenticated(DomainError):
    pass
