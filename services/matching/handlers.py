"""The events the matching service consumes, as a table: each kind's change to the read model
(inside the consumer's transaction) and, once committed, to the world in memory, and the
re-offer of a place a proposal freed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from linli.v1 import events_pb2, registry_pb2
from services.common.erasure import ERASED_VERSION
from services.common.handlers import EventTable
from services.common.protoconv import time_from_proto
from services.matching import convert
from services.matching.domain import erasure
from services.matching.offers import offer_standby
from services.matching.service import Matching
from services.matching.store import Tx

Env = events_pb2.EventEnvelope

TASK_EVENTS = (
    events_pb2.TaskPosted,
    events_pb2.TaskCancelled,
    events_pb2.TaskExpired,
    events_pb2.TaskClosed,
)
# A matching proposal that ends this way frees its place for the next best member, and its
# member is not proposed for that task again.
FREED = (".declined", ".expired", ".withdrawn")


def table(matching: Matching) -> EventTable:
    """The matching service's handlers, bound to its use cases and store."""
    store = matching.store

    async def refreshed(
        *, members: Sequence[str] = (), tasks: Sequence[str] = (), assignments: Sequence[str] = ()
    ) -> None:
        await store.refresh(matching.world, members=members, tasks=tasks, assignments=assignments)
        matching.changed()

    async def reoffer(task_id: str, run_id: str) -> None:
        if matching.settings.reoffer:
            await matching.reoffer(task_id, run_id)

    async def freed(task_id: str, run_id: str | None) -> None:
        """A freed place: the task's standby list first; then, for a place a run (or a
        re-offer) had proposed, the normal re-offer."""
        if not matching.settings.reoffer:
            return
        if await offer_standby(matching, task_id) == 0 and run_id is not None:
            await reoffer(task_id, run_id)

    # -- the registry --------------------------------------------------------------------------

    async def community_created(tx: Tx, e: events_pb2.CommunityCreated, _env: Env) -> None:
        await store.put_community(tx, e.community.id, e.community.street_id)

    async def community_seen(e: events_pb2.CommunityCreated, _env: Env) -> None:
        matching.world.put_community(e.community.id, e.community.street_id)
        matching.changed()

    async def member_changed(tx: Tx, m: registry_pb2.Member, _env: Env) -> None:
        await store.put_member(tx, *convert.member_row(m))

    async def member_seen(m: registry_pb2.Member, _env: Env) -> None:
        await refreshed(members=[m.id])

    async def member_erased(tx: Tx, e: events_pb2.MemberErased, _env: Env) -> None:
        # Sealed with the last version: no snapshot of the member still travelling (a late
        # delivery, a republished event) writes their data back.
        community = e.community_id or None
        street = matching.world.communities.get(community) if community else None
        gone = erasure.erased_member(e.member_id, community, street)
        await store.put_member(tx, gone, ERASED_VERSION)
        await store.forget_member(tx, e.member_id)

    async def erasure_seen(e: events_pb2.MemberErased, _env: Env) -> None:
        await refreshed(members=[e.member_id])

    # -- the task service ----------------------------------------------------------------------

    async def task_changed(tx: Tx, e: Any, _env: Env) -> None:
        await store.put_task(tx, *convert.task_row(e.task))

    async def task_seen(e: Any, _env: Env) -> None:
        await refreshed(tasks=[e.task.id])

    async def task_edited(tx: Tx, e: events_pb2.TaskChanged, _env: Env) -> None:
        await store.change_task(tx, *convert.task_row(e.task))

    async def edit_seen(e: events_pb2.TaskChanged, _env: Env) -> None:
        await refreshed(tasks=[e.task.id])
        # More places, perhaps: the standby list's turn.
        if matching.settings.reoffer:
            await offer_standby(matching, e.task.id)

    async def task_completed(tx: Tx, e: events_pb2.TaskCompleted, _env: Env) -> None:
        await store.put_task(tx, *convert.task_row(e.task))
        for a in e.assignments:
            await store.put_assignment(tx, *convert.assignment_row(a, e.task))

    async def completion_seen(e: events_pb2.TaskCompleted, _env: Env) -> None:
        await refreshed(tasks=[e.task.id], assignments=[a.id for a in e.assignments])

    async def assignment_changed(tx: Tx, e: events_pb2.AssignmentChanged, env: Env) -> None:
        a = e.assignment
        await store.put_task(tx, *convert.task_row(e.task))
        await store.put_assignment(tx, *convert.assignment_row(a, e.task))
        await store.answered(tx, a.task_id, a.member_id)
        if env.subject.endswith(FREED):
            await store.refuse(tx, a.task_id, a.member_id, env.subject.rsplit(".")[-1])

    async def assignment_seen(e: events_pb2.AssignmentChanged, env: Env) -> None:
        await refreshed(tasks=[e.task.id], assignments=[e.assignment.id])
        if env.subject.endswith(FREED):
            await freed(e.task.id, e.assignment.match_run_id or None)

    async def proposal_rejected(tx: Tx, e: events_pb2.ProposalRejected, _env: Env) -> None:
        await store.answered(tx, e.task_id, e.member_id)
        if not e.place_unavailable:
            await store.refuse(tx, e.task_id, e.member_id, e.reason[:200])

    async def rejection_seen(e: events_pb2.ProposalRejected, _env: Env) -> None:
        matching.world.settle(e.task_id, e.member_id)
        await refreshed(tasks=[e.task_id])
        if not e.place_unavailable:
            await freed(e.task_id, e.match_run_id)

    # -- standby lists -------------------------------------------------------------------------

    async def standby_joined(tx: Tx, e: events_pb2.StandbyJoined, _env: Env) -> None:
        await store.put_standby(tx, e.task_id, e.member_id, time_from_proto(e.join_time))

    async def joined_seen(e: events_pb2.StandbyJoined, _env: Env) -> None:
        matching.world.join_standby(e.task_id, e.member_id, time_from_proto(e.join_time))
        # A place freed before this entry was known here is still free: offer it now.
        if matching.settings.reoffer:
            await offer_standby(matching, e.task_id)

    async def standby_left(tx: Tx, e: events_pb2.StandbyLeft, _env: Env) -> None:
        await store.drop_standby(tx, e.task_id, e.member_id)

    async def left_seen(e: events_pb2.StandbyLeft, _env: Env) -> None:
        matching.world.leave_standby(e.task_id, e.member_id)

    return (
        EventTable()
        .on(events_pb2.CommunityCreated, apply=community_created, after=community_seen)
        .on(*TASK_EVENTS, apply=task_changed, after=task_seen)
        .on(events_pb2.TaskCompleted, apply=task_completed, after=completion_seen)
        .on(events_pb2.TaskChanged, apply=task_edited, after=edit_seen)
        .on(events_pb2.AssignmentChanged, apply=assignment_changed, after=assignment_seen)
        .on(events_pb2.ProposalRejected, apply=proposal_rejected, after=rejection_seen)
        .on(events_pb2.MemberErased, apply=member_erased, after=erasure_seen)
        .on(events_pb2.StandbyJoined, apply=standby_joined, after=joined_seen)
        .on(events_pb2.StandbyLeft, apply=standby_left, after=left_seen)
        # Every registry event that carries the member whole.
        .carrying(registry_pb2.Member, apply=member_changed, after=member_seen)
    )
