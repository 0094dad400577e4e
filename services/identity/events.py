"""What the identity service publishes and consumes: the one place its payloads are built."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf import message

from linli.v1 import events_pb2
from services.common import subjects
from services.common.protoconv import ts
from services.common.subjects import (
    ACCOUNT_CHANGED,
    ACCOUNT_CREATED,
    ACCOUNT_DISABLED,
    SIGNINS_REVOKED,
)
from services.common.subjects import IDENTITY as SERVICE
from services.identity.convert import account_to_proto
from services.identity.domain.accounts import Account

__all__ = [
    "CONSUMED",
    "SERVICE",
    "Event",
    "account_changed",
    "account_created",
    "signins_revoked",
]

# Consumed: the registry's communities (their streets decide what a street administrator
# manages) and members (who may sign in by phone).
CONSUMED = [subjects.COMMUNITY_CREATED, subjects.MEMBER_EVENTS]

# An event to publish: (subject, payload).
Event = tuple[str, message.Message]


def account_created(account: Account) -> Event:
    return ACCOUNT_CREATED, events_pb2.AccountCreated(account=account_to_proto(account))


def account_changed(account: Account, change: str) -> Event:
    if account.disabled:
        return ACCOUNT_DISABLED, events_pb2.AccountDisabled(account=account_to_proto(account))
    return ACCOUNT_CHANGED, events_pb2.AccountChanged(
        account=account_to_proto(account), change=change
    )


def signins_revoked(
    subject: str, reason: str, session: str = "", at: datetime | None = None
) -> Event:
    """Every access token of `subject` (of its sign-in `session` only, when given) issued before
    `at` (the change that ended them; unset: now) is dead at every service. Real time, as the
    tokens' iat is: a test's clock must not move the line."""
    before = at or datetime.now(UTC)
    return SIGNINS_REVOKED, events_pb2.SignInsRevoked(
        subject=subject, before=ts(before), reason=reason, session=session
    )
