"""The events the points service consumes, as a table: confirmed hours (points earned, a
correction reversing what it replaces), the registry's communities and members (whose staff may
read and redeem), and erasures; each inside the consumer's transaction."""

from __future__ import annotations

from linli.v1 import events_pb2, registry_pb2
from services.common.handlers import EventTable
from services.common.protoconv import report_in_accepted
from services.points import convert
from services.points.service import Points
from services.points.store import Tx

Env = events_pb2.EventEnvelope


def table(points: Points) -> EventTable:
    store = points.store

    async def hours_confirmed(tx: Tx, e: events_pb2.HoursConfirmed, _env: Env) -> None:
        await points.book_hours(tx, convert.hours_record(e))

    async def community_created(tx: Tx, e: events_pb2.CommunityCreated, _env: Env) -> None:
        await store.put_community(tx, e.community.id, e.community.street_id)

    async def member_changed(tx: Tx, m: registry_pb2.Member, _env: Env) -> None:
        # A community's staff answer for a member's points only once they accepted the member's
        # report-in: until then (a newcomer, or a move still pending) the member stays where
        # they were accepted last, or unknown.
        if report_in_accepted(m):
            await store.put_member(tx, *convert.member_ref(m))

    async def member_erased(tx: Tx, e: events_pb2.MemberErased, _env: Env) -> None:
        await points.forget(tx, e.member_id)

    return (
        EventTable()
        .on(events_pb2.HoursConfirmed, apply=hours_confirmed)
        .on(events_pb2.CommunityCreated, apply=community_created)
        .on(events_pb2.MemberErased, apply=member_erased)
        # Every registry event that carries the member whole (registered, updated, reported
        # in, report-in accepted, ...).
        .carrying(registry_pb2.Member, apply=member_changed)
    )
