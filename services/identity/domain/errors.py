"""The identity service's domain errors and reason codes (the interceptor maps each to its
status code). Sign-in failures say the same thing whatever went wrong, so that nobody learns
which accounts or phones exist."""

from __future__ import annotations

from services.common.errors import (
    AlreadyExists,
    FailedPrecondition,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
)

TOO_MANY_ATTEMPTS = "TOO_MANY_ATTEMPTS"
TOO_MANY_CODES = "TOO_MANY_CODES"
TOTP_REQUIRED = "TOTP_REQUIRED"
TOTP_ENROLMENT_REQUIRED = "TOTP_ENROLMENT_REQUIRED"
TOTP_ALREADY_ENROLLED = "TOTP_ALREADY_ENROLLED"
TOTP_NOT_STARTED = "TOTP_NOT_STARTED"


class BadCredentials(Unauthenticated):
    """A wrong user name, password, code, secret or refresh token, or a disabled account: one
    answer for all of them."""

    def __init__(self) -> None:
        super().__init__("sign-in refused: the name, password or code is wrong")


class TooManyAttempts(ResourceExhausted):
    """Too many failed sign-ins for this name or phone: locked out for a while."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(
            "too many failed sign-ins; try again later",
            TOO_MANY_ATTEMPTS,
            retry_after_s=retry_after_s,
        )


class TooManyCodes(ResourceExhausted):
    """Sign-in codes asked too often for this phone or by this caller."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(
            "too many sign-in codes asked; try again later",
            TOO_MANY_CODES,
            retry_after_s=retry_after_s,
        )


def totp_required() -> FailedPrecondition:
    return FailedPrecondition("this account signs in with a TOTP code as well", TOTP_REQUIRED)


def totp_enrolment_required() -> FailedPrecondition:
    return FailedPrecondition(
        "administrators sign in with TOTP: enrol first (EnrolTotp, then ConfirmTotp)",
        TOTP_ENROLMENT_REQUIRED,
    )


def totp_already_enrolled() -> FailedPrecondition:
    return FailedPrecondition(
        "TOTP is enrolled already; an administrator can reset it", TOTP_ALREADY_ENROLLED
    )


def totp_not_started() -> FailedPrecondition:
    return FailedPrecondition("no TOTP enrolment started (EnrolTotp first)", TOTP_NOT_STARTED)


def user_name_taken() -> AlreadyExists:
    return AlreadyExists("this user name is taken", "user_name")


def account_not_found(account_id: str) -> NotFound:
    return NotFound("account", account_id)


def not_yours() -> PermissionDenied:
    return PermissionDenied("this account is outside what you manage")
