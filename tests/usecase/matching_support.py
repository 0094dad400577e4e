"""A matching service on the in-memory store, fed the registry's and the task service's events
through its handler table: what the use-case tests drive."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from google.protobuf import message

from linli.v1 import common_pb2, events_pb2, registry_pb2, tasks_pb2
from services.common.auth import Principal, Role
from services.common.eventbus import envelope
from services.common.handlers import EventTable
from services.common.protoconv import ts
from services.common.settings import MatchingSettings
from services.matching.domain.scope import Scope
from services.matching.handlers import table
from services.matching.service import Matching
from services.matching.solver.model import Weights
from services.matching.store.memory import MemoryStore

# Friday 2026-12-04, 08:00 in the district; tasks are on Saturday morning.
NOW = datetime(2026, 12, 4, 0, 0, tzinfo=UTC)
SATURDAY_9 = datetime(2026, 12, 5, 1, 0, tzinfo=UTC)  # 09:00 local
HOME = (36.98, 117.17)
ADMIN = Principal("admin", Role.DISTRICT_ADMIN)


def staff(*communities: str) -> Principal:
    return Principal(f"staff-{'-'.join(communities)}", Role.COMMUNITY_STAFF, frozenset(communities))


def street_admin(*streets: str) -> Principal:
    return Principal(f"admin-{'-'.join(streets)}", Role.STREET_ADMIN, street_ids=frozenset(streets))


def member_principal(member_id: str) -> Principal:
    return Principal(member_id, Role.MEMBER)


def ref() -> str:
    return str(uuid.uuid4())


@dataclass
class District:
    """A matching service, its store and the events it has taken in."""

    matching: Matching
    store: MemoryStore
    handlers: EventTable
    versions: int = 0
    tasks: dict[str, tasks_pb2.Task] = field(default_factory=dict)

    def version(self) -> datetime:
        # Each event a little newer than the one before, as the producers stamp them.
        self.versions += 1
        return NOW - timedelta(days=1) + timedelta(seconds=self.versions)

    async def feed(self, subject: str, payload: message.Message) -> None:
        env = envelope(source="test", subj=subject, payload=payload, actor=None)
        async with self.store.transaction() as tx:
            await self.handlers.apply(tx, env)
        await self.handlers.after(env)

    async def community(self, community_id: str, street_id: str) -> None:
        await self.feed(
            "linli.registry.community.created",
            events_pb2.CommunityCreated(
                community=registry_pb2.Community(id=community_id, street_id=street_id)
            ),
        )

    async def member(
        self, community_id: str, lat: float = HOME[0], lng: float = HOME[1], hours: int = 8
    ) -> str:
        member_id = ref()
        when = self.version()
        await self.feed(
            "linli.registry.member.reported_in",
            events_pb2.MemberReportedIn(
                member=registry_pb2.Member(
                    id=member_id,
                    community_id=community_id,
                    home=common_pb2.LatLng(latitude=lat, longitude=lng),
                    availability=[common_pb2.WeeklyWindow(day=6, start_minute=480, end_minute=720)],
                    hours_per_month=hours,
                    status=registry_pb2.MEMBER_STATUS_ACTIVE,
                    reported_in_time=ts(when),
                    update_time=ts(when),
                )
            ),
        )
        return member_id

    async def task(
        self,
        community_id: str,
        street_id: str,
        *,
        headcount: int = 1,
        street_wide: bool = False,
        start: datetime = SATURDAY_9,
        lat: float = 36.981,
        lng: float = 117.171,
    ) -> str:
        when = self.version()
        t = tasks_pb2.Task(
            id=ref(),
            community_id=community_id,
            street_id=street_id,
            street_wide=street_wide,
            beneficiary_group=common_pb2.BENEFICIARY_GROUP_ELDERLY,
            location=common_pb2.LatLng(latitude=lat, longitude=lng),
            headcount=headcount,
            window=tasks_pb2.TimeWindow(
                start=ts(start), end=ts(start + timedelta(hours=1)), flexible=False
            ),
            effort_hours=1.0,
            status=tasks_pb2.TASK_STATUS_OPEN,
            create_time=ts(when),
            update_time=ts(when),
        )
        self.tasks[t.id] = t
        await self.feed("linli.tasks.task.posted", events_pb2.TaskPosted(task=t))
        return t.id

    async def answer(self, task_id: str, member_id: str, run_id: str, verb: str) -> str:
        """The task service's word on a proposal: an assignment in the state `verb` names."""
        states = {
            "proposed": tasks_pb2.ASSIGNMENT_STATE_PROPOSED,
            "declined": tasks_pb2.ASSIGNMENT_STATE_DECLINED,
            "accepted": tasks_pb2.ASSIGNMENT_STATE_ACCEPTED,
        }
        when = self.version()
        a = tasks_pb2.Assignment(
            id=ref(),
            task_id=task_id,
            member_id=member_id,
            state=states[verb],
            match_run_id=run_id,
            update_time=ts(when),
        )
        t = tasks_pb2.Task()
        t.CopyFrom(self.tasks[task_id])
        t.update_time.CopyFrom(ts(when))
        await self.feed(
            f"linli.tasks.assignment.{verb}", events_pb2.AssignmentChanged(assignment=a, task=t)
        )
        return a.id

    def proposals(self) -> list[events_pb2.ProposalMade]:
        return [p for (_subject, p), _actor in self.store.published]


def district(**settings: object) -> District:
    store = MemoryStore()
    matching = Matching(
        store,
        MatchingSettings(read_model_wait_s=0.0, **settings),  # type: ignore[arg-type]
        clock=lambda: NOW,
    )
    return District(matching, store, table(matching))


async def proposed_once(**settings: object) -> tuple[District, str, events_pb2.ProposalMade]:
    """A community of three members and one task, run once: the district, the task, the
    proposal made."""
    d = district(**settings)
    await d.community("c1", "s1")
    for _ in range(3):
        await d.member("c1")
    task_id = await d.task("c1", "s1")
    await d.matching.run(
        staff("c1"),
        Scope("community", "c1"),
        dry_run=False,
        method="auto",
        time_limit_s=5,
        gap_target=0,
        weights=Weights(),
        max_distance_m=0,
    )
    (first,) = d.proposals()
    return d, task_id, first
