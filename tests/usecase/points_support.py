"""The points service on its in-memory store, fed events through its handler table as the
consumer would, with a clock a test moves."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from google.protobuf import message

from linli.v1 import events_pb2, registry_pb2
from services.common.auth import Principal, Role
from services.common.eventbus.outbox import envelope
from services.common.protoconv import ts
from services.common.settings import PointsSettings
from services.common.settings.points import PointsRules
from services.points.handlers import table
from services.points.service import Points
from services.points.store.memory import MemoryStore

NOW = datetime(2026, 6, 1, 2, tzinfo=UTC)


@dataclass
class Clock:
    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now

    def move(self, by: timedelta) -> None:
        self.now += by


@dataclass
class Ledger:
    rules: PointsRules = field(default_factory=PointsRules)
    clock: Clock = field(default_factory=Clock)

    def __post_init__(self) -> None:
        self.store = MemoryStore()
        self.points = Points(self.store, PointsSettings(points=self.rules), self.clock)
        self.table = table(self.points)

    async def feed(self, subject: str, payload: message.Message) -> None:
        env = envelope(source="test", subj=subject, payload=payload, actor=None)
        await self.table.apply(None, env)  # type: ignore[arg-type]

    async def community(self, community_id: str, street_id: str) -> None:
        await self.feed(
            "linli.registry.community.created",
            events_pb2.CommunityCreated(
                community=registry_pb2.Community(id=community_id, street_id=street_id)
            ),
        )

    async def member(self, community_id: str, member_id: str | None = None) -> str:
        member_id = member_id or str(uuid.uuid4())
        m = registry_pb2.Member(
            id=member_id,
            community_id=community_id,
            report_in_state=registry_pb2.REPORT_IN_STATE_ACCEPTED,
        )
        m.update_time.CopyFrom(ts(self.clock()))
        await self.feed("linli.registry.member.registered", events_pb2.MemberRegistered(member=m))
        return member_id

    async def moves(self, member_id: str, community_id: str, *, accepted: bool) -> None:
        """The member reports in to another community: pending, then (if `accepted`) accepted."""
        m = registry_pb2.Member(
            id=member_id,
            community_id=community_id,
            report_in_state=registry_pb2.REPORT_IN_STATE_PENDING,
        )
        m.update_time.CopyFrom(ts(self.clock()))
        await self.feed("linli.registry.member.reported_in", events_pb2.MemberReportedIn(member=m))
        if accepted:
            m.report_in_state = registry_pb2.REPORT_IN_STATE_ACCEPTED
            await self.feed(
                "linli.registry.member.reportin_accepted", events_pb2.ReportInAccepted(member=m)
            )

    async def hours(
        self,
        member_id: str,
        community_id: str,
        minutes: int = 120,
        *,
        record_id: str | None = None,
        supersedes: str = "",
        scheduled: int = 120,
        hard: bool = False,
        category: str = "elderly",
    ) -> str:
        record_id = record_id or str(uuid.uuid4())
        await self.feed(
            "linli.tasks.hours.confirmed",
            events_pb2.HoursConfirmed(
                record_id=record_id,
                supersedes_record_id=supersedes,
                task_id=str(uuid.uuid4()),
                member_id=member_id,
                community_id=community_id,
                street_id="s1",
                category=category,
                minutes=minutes,
                scheduled_minutes=scheduled,
                hard_to_fill=hard,
                occurred_time=ts(self.clock()),
                evidence=events_pb2.HOURS_EVIDENCE_CODE_AND_PLACE,
            ),
        )
        return record_id


def staff(*communities: str) -> Principal:
    return Principal("staff-" + "-".join(communities), Role.COMMUNITY_STAFF, frozenset(communities))


def street_admin(*streets: str) -> Principal:
    return Principal("street-admin", Role.STREET_ADMIN, street_ids=frozenset(streets))


def member(member_id: str) -> Principal:
    return Principal(member_id, Role.MEMBER)


ADMIN = Principal("district-admin", Role.DISTRICT_ADMIN)
