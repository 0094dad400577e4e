"""Who acts in the demo's month and what it records: the district office, each community's
staff and the members (each with a token signed by the local key, or signed in through the
identity service: dev/accounts.py), and the month's tally."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from linli.v1 import matching_pb2, registry_pb2
from services.client import (
    Metadata,
)
from services.common.auth import Principal, Role, issue_token
from services.common.settings import Settings
from services.common.values import LOCAL_TZ


@dataclass
class Month:
    started: datetime
    members: dict[str, registry_pb2.Member] = field(default_factory=dict)  # id -> member
    wishes: int = 0
    roles: int = 0
    role_tasks: int = 0
    claimed: int = 0
    # (task, member, whether the claim took the task's last place), for waiting on matching
    claims: list[tuple[str, str, bool]] = field(default_factory=list)
    run: matching_pb2.MatchRun | None = None
    answers: Counter[str] = field(default_factory=Counter)  # accepted / declined / unanswered
    reoffered: int = 0
    standby_joined: int = 0
    confirmed: int = 0
    released: int = 0
    standby_filled: int = 0
    redeemed: int = 0
    completed: int = 0
    hours: float = 0.0
    no_shows: int = 0
    steps: list[tuple[str, float]] = field(default_factory=list)  # (what, seconds)
    # report-ins accepted / refused, certificates verified
    standing: Counter[str] = field(default_factory=Counter)


def story(month: Month) -> list[tuple[str, Any]]:
    """The month told as rows of the report's story table."""
    return [
        ("wishes posted", month.wishes),
        ("volunteer roles", month.roles),
        ("role occurrences generated", month.role_tasks),
        ("wishes claimed by members themselves", month.claimed),
        (
            "proposals accepted / declined / unanswered",
            f"{month.answers['accepted']} / {month.answers['declined']} / "
            f"{month.answers['unanswered']}",
        ),
        ("places re-offered after a decline or expiry", month.reoffered),
        ("members waiting on standby lists", month.standby_joined),
        ("places confirmed / released two days ahead", f"{month.confirmed} / {month.released}"),
        ("released places taken from the standby list", month.standby_filled),
        ("tasks confirmed done", month.completed),
        ("hours given", f"{month.hours:,.1f}"),
        ("no-shows", month.no_shows),
        (
            "report-ins accepted / refused; certificates verified",
            f"{month.standing['report-ins accepted']} / {month.standing['report-ins refused']}; "
            f"{month.standing['certificates verified']}",
        ),
    ]


def local(day: date, minute: int) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=LOCAL_TZ) + timedelta(minutes=minute)


class People(Protocol):
    """Whoever acts in the month, with the metadata of their calls."""

    admin: Metadata
    service: Metadata

    def staff(self, community: str) -> Metadata: ...

    def member(self, member_id: str) -> Metadata: ...

    async def sign_in_members(self, members: Mapping[str, registry_pb2.Member]) -> None: ...

    async def close(self) -> None: ...


class Actors:
    """Tokens for everyone who acts: the district office, each community's staff, members."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.admin = self._md(Principal("district-office", Role.DISTRICT_ADMIN))
        # The scheduled matching runs act as a service.
        self.service = self._md(Principal("matching-runs", Role.SERVICE))
        self._staff: dict[str, Metadata] = {}
        self._members: dict[str, Metadata] = {}

    def _md(self, p: Principal) -> Metadata:
        return (("authorization", "Bearer " + issue_token(self.settings, p)),)

    def staff(self, community: str) -> Metadata:
        if community not in self._staff:
            self._staff[community] = self._md(
                Principal(
                    f"staff-{community}", Role.COMMUNITY_STAFF, community_ids=frozenset({community})
                )
            )
        return self._staff[community]

    def member(self, member_id: str) -> Metadata:
        if member_id not in self._members:
            self._members[member_id] = self._md(Principal(member_id, Role.MEMBER))
        return self._members[member_id]

    async def sign_in_members(self, members: Mapping[str, registry_pb2.Member]) -> None:
        """Members' tokens are signed when first asked for."""

    async def close(self) -> None:
        pass
