"""The events the task service consumes, as a table: what each one changes in its read model.

Every row runs inside the consumer's transaction, so the read model, any outbox rows and the
inbox row change together.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import asyncpg

from linli.v1 import events_pb2, registry_pb2
from services.common.clock import Clock, system_clock
from services.common.erasure import ERASED_VERSION
from services.common.handlers import EventTable
from services.common.protoconv import report_in_accepted, time_from_proto
from services.common.settings import TasksSettings
from services.common.values import LatLng
from services.tasks.domain import MemberView
from services.tasks.store import TaskStorePort

log = logging.getLogger(__name__)


def event_table(
    store: TaskStorePort, settings: TasksSettings, clock: Clock = system_clock
) -> EventTable:
    """The table of the service's consumers (`handler=table.apply`)."""

    async def unit_created(
        conn: asyncpg.Connection, u: events_pb2.UnitCreated, env: events_pb2.EventEnvelope
    ) -> None:
        await store.apply_unit(conn, u.unit.id, u.unit.community_id)

    async def community_created(
        conn: asyncpg.Connection, c: events_pb2.CommunityCreated, env: events_pb2.EventEnvelope
    ) -> None:
        station = c.community.station
        await store.apply_community(
            conn, c.community.id, c.community.street_id, LatLng(station.latitude, station.longitude)
        )

    async def proposal_made(
        conn: asyncpg.Connection, p: events_pb2.ProposalMade, env: events_pb2.EventEnvelope
    ) -> None:
        await store.propose(
            conn,
            p.match_run_id,
            p.task_id,
            p.member_id,
            None,
            clock(),
            timedelta(seconds=settings.proposal_ttl_s),
            standby=p.standby,
        )

    async def member_changed(
        conn: asyncpg.Connection, m: registry_pb2.Member, env: events_pb2.EventEnvelope
    ) -> None:
        # Any registry event that carries the member whole (registered, updated, reported in,
        # deactivated, and any later kind such as a reactivation) is applied the same way: the
        # read model follows the member's latest snapshot.
        # A report-in counts once the community's staff accepted it: a pending (or refused)
        # member sees none of that community's tasks, and a move makes them pending in the new
        # community (the view records it, so the old community's places are released below).
        street = await store.street_of(conn, m.community_id) if m.community_id else None
        view = MemberView(
            m.id,
            m.community_id or None,
            street,
            m.status == registry_pb2.MEMBER_STATUS_ACTIVE,
            report_in_accepted(m),
            proven=frozenset(s.skill for s in m.skills if s.verified),
        )
        await store.apply_member(
            conn,
            view,
            skills=json.dumps(
                [{"skill": s.skill, "level": s.level, "verified": s.verified} for s in m.skills]
            ),
            availability=json.dumps(
                [
                    {"day": w.day, "start": w.start_minute, "end": w.end_minute}
                    for w in m.availability
                ]
            ),
            hours_per_month=m.hours_per_month,
            home=LatLng(m.home.latitude, m.home.longitude) if m.HasField("home") else None,
            version=time_from_proto(m.update_time),
        )
        # A member holds only places they could take as they now stand: deactivated, or moved
        # to another community, they free the rest for others (announced as withdrawals).
        released = await store.release_places(conn, m.id)
        if released:
            log.info("released %d place(s) of member %s", released, m.id)

    async def member_erased(
        conn: asyncpg.Connection, e: events_pb2.MemberErased, env: events_pb2.EventEnvelope
    ) -> None:
        # The member keeps their id and community (their hours still count for it) and nothing
        # else; the sealed version lets no snapshot of them still travelling write over this.
        # From the event alone, so that the row ends the same whatever this read model saw of
        # the member before (a replay finds their old snapshots gone from the stream).
        community = e.community_id or None
        street = await store.street_of(conn, community) if community else None
        gone = MemberView(e.member_id, community, street, active=False, reported_in=False)
        await store.apply_member(
            conn,
            gone,
            skills="[]",
            availability="[]",
            hours_per_month=0,
            home=None,
            version=ERASED_VERSION,
        )
        await store.release_places(conn, e.member_id)
        await store.forget_member_text(conn, e.member_id)

    return (
        EventTable()
        .on(events_pb2.UnitCreated, apply=unit_created)
        .on(events_pb2.CommunityCreated, apply=community_created)
        .on(events_pb2.ProposalMade, apply=proposal_made)
        .on(events_pb2.MemberErased, apply=member_erased)
        .carrying(registry_pb2.Member, apply=member_changed)
    )
