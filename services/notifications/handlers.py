"""The events the notifications service consumes, as a table: each keeps the read model and
writes the items it makes to the inboxes of whoever must hear of it, in the consumer's
transaction (an event applied once writes its items once)."""

from __future__ import annotations

from linli.v1 import events_pb2, identity_pb2, registry_pb2
from services.common.erasure import ERASED_VERSION
from services.common.handlers import EventTable
from services.common.protoconv import time_from_proto
from services.notifications import convert
from services.notifications.domain import templates
from services.notifications.domain.items import Kind, Resource, Urgency
from services.notifications.domain.notices import MOVED, task_facts, to_member, to_staff, who
from services.notifications.domain.world import MemberRow
from services.notifications.service import Notifications
from services.notifications.store import Tx

Env = events_pb2.EventEnvelope

TASK_KEPT = (
    events_pb2.TaskPosted,
    events_pb2.TaskExpired,
    events_pb2.TaskClosed,
)
ACCOUNT_EVENTS = (events_pb2.AccountCreated, events_pb2.AccountChanged, events_pb2.AccountDisabled)


def table(n: Notifications) -> EventTable:
    """The notifications service's handlers, bound to its use cases and store."""
    store = n.store

    async def staff(tx: Tx, community_id: str, street_id: str = "") -> list[str]:
        street = street_id or await store.street_of(tx, community_id)
        return await store.staff_of(tx, community_id, street)

    # -- the registry and the identity service ---------------------------------------------------

    async def community_created(tx: Tx, e: events_pb2.CommunityCreated, _env: Env) -> None:
        await store.put_community(tx, e.community.id, e.community.street_id)

    async def member_changed(tx: Tx, m: registry_pb2.Member, _env: Env) -> None:
        await store.put_member(tx, *convert.member_row(m))

    async def member_erased(tx: Tx, e: events_pb2.MemberErased, _env: Env) -> None:
        # Sealed with the last version: no late snapshot brings the member back.
        await store.put_member(tx, MemberRow(e.member_id, "", "", ""), ERASED_VERSION)
        await store.forget_member(tx, e.member_id)

    async def reported_in(tx: Tx, e: events_pb2.MemberReportedIn, env: Env) -> None:
        m = e.member
        await member_changed(tx, m, env)
        if not m.community_id:
            return
        res = Resource(member_id=m.id, community_id=m.community_id)
        facts = {"who": m.name or "一名党员"}
        to = await staff(tx, m.community_id)
        await n.write(tx, to_staff(to, Kind.REPORT_IN_TO_VERIFY, env.id, facts, res))

    async def account_changed(tx: Tx, e: identity_pb2.Account, _env: Env) -> None:
        await store.put_account(tx, convert.staff_account(e))

    async def certificate_expiring(tx: Tx, e: events_pb2.CertificateExpiring, env: Env) -> None:
        facts = {"skill": e.skill, "expire": templates.when(time_from_proto(e.expire_time))}
        res = Resource(member_id=e.member_id, community_id=e.community_id, record_id=e.skill)
        member = await store.member(tx, e.member_id)
        items = [
            to_member(e.member_id, Kind.CERTIFICATE_EXPIRING, env.id, facts | {"who": "您"}, res)
        ]
        to = await staff(tx, e.community_id)
        items += to_staff(to, Kind.CERTIFICATE_EXPIRING, env.id, facts | {"who": who(member)}, res)
        await n.write(tx, items)

    # -- the task service and matching -----------------------------------------------------------

    async def task_kept(tx: Tx, e: events_pb2.TaskPosted, _env: Env) -> None:
        await store.put_task(tx, convert.task_row(e.task))

    async def task_completed(tx: Tx, e: events_pb2.TaskCompleted, env: Env) -> None:
        await store.put_task(tx, convert.task_row(e.task))
        for a in e.assignments:
            await store.put_place(tx, convert.place(a, time_from_proto(env.time)))

    async def task_changed(tx: Tx, e: events_pb2.TaskChanged, env: Env) -> None:
        before = await store.task(tx, e.task.id)
        task = convert.task_row(e.task)
        await store.put_task(tx, task)
        now = n.clock()
        # Urgent when it was, or now is, about to start.
        urgency = max(n.urgent.of(task, now), n.urgent.of(before, now))
        await tell_holders(tx, task.id, Kind.TASK_CHANGED, env, e.reason, urgency)

    async def task_cancelled(tx: Tx, e: events_pb2.TaskCancelled, env: Env) -> None:
        task = convert.task_row(e.task)
        await store.put_task(tx, task)
        urgency = n.urgent.of(task, n.clock())
        await tell_holders(tx, task.id, Kind.TASK_CANCELLED, env, e.reason, urgency)

    async def tell_holders(
        tx: Tx, task_id: str, kind: Kind, env: Env, reason: str, urgency: Urgency
    ) -> None:
        task = await store.task(tx, task_id)
        said = {"reason": reason or "详情请查看任务"}
        items = [
            to_member(
                p.member_id,
                kind,
                env.id,
                task_facts(task, exact=p.state == "accepted") | said,
                Resource(task_id=task_id, assignment_id=p.id),
                urgency,
            )
            for p in await store.holders(tx, task_id)
        ]
        await n.write(tx, items)

    async def proposal_made(tx: Tx, e: events_pb2.ProposalMade, _env: Env) -> None:
        await store.put_proposal(tx, e.task_id, e.member_id, e.reoffer or e.standby)

    async def proposal_rejected(tx: Tx, e: events_pb2.ProposalRejected, _env: Env) -> None:
        # Never a proposed place: the member hears nothing, and the proposal is forgotten.
        await store.take_proposal(tx, e.task_id, e.member_id)

    async def assignment_changed(tx: Tx, e: events_pb2.AssignmentChanged, env: Env) -> None:
        a = e.assignment
        verb = env.subject.rsplit(".", 1)[-1]
        task = convert.task_row(e.task)
        await store.put_task(tx, task)
        reoffer = (
            await store.take_proposal(tx, a.task_id, a.member_id) if verb == "proposed" else None
        )
        await store.put_place(tx, convert.place(a, time_from_proto(env.time)))
        facts = task_facts(task)
        res = Resource(task_id=a.task_id, assignment_id=a.id, community_id=task.community_id)
        if verb == "proposed":
            kind = Kind.REOFFERED if reoffer else Kind.PROPOSED
            answer_by = (
                templates.when(time_from_proto(a.expire_time)) if a.HasField("expire_time") else ""
            )
            await n.write(
                tx, [to_member(a.member_id, kind, env.id, facts | {"answer_by": answer_by}, res)]
            )
        elif verb == "accepted":
            exact = task_facts(task, exact=True)
            await n.write(tx, [to_member(a.member_id, Kind.ACCEPTED, env.id, exact, res)])
        elif verb == "withdrawn":
            items = []
            if a.reason == MOVED:
                items.append(to_member(a.member_id, Kind.PLACE_RELEASED_MOVED, env.id, facts, res))
            member = await store.member(tx, a.member_id)
            said = facts | {"who": who(member), "reason": a.reason or "未说明原因"}
            to = await staff(tx, task.community_id, task.street_id)
            items += to_staff(to, Kind.PLACE_RELEASED, env.id, said, res)
            await n.write(tx, items)

    async def confirmation_requested(tx: Tx, e: events_pb2.ConfirmationRequested, env: Env) -> None:
        task = convert.task_row(e.task)
        await store.put_task(tx, task)
        a = e.assignment
        facts = task_facts(task) | {"answer_by": templates.when(time_from_proto(e.answer_by))}
        res = Resource(task_id=task.id, assignment_id=a.id, community_id=task.community_id)
        await n.write(tx, [to_member(a.member_id, Kind.PLEASE_CONFIRM, env.id, facts, res)])

    async def confirmation_overdue(tx: Tx, e: events_pb2.ConfirmationOverdue, env: Env) -> None:
        task = convert.task_row(e.task)
        a = e.assignment
        member = await store.member(tx, a.member_id)
        facts = task_facts(task) | {"who": who(member)}
        res = Resource(task.id, a.id, a.member_id, task.community_id)
        to = await staff(tx, task.community_id, task.street_id)
        await n.write(tx, to_staff(to, Kind.CONFIRMATION_OVERDUE, env.id, facts, res))

    async def place_left_empty(tx: Tx, e: events_pb2.PlaceLeftEmpty, env: Env) -> None:
        task = convert.task_row(e.task)
        await store.put_task(tx, task)
        facts = task_facts(task) | {"empty": str(e.empty_places)}
        res = Resource(task_id=task.id, community_id=task.community_id)
        to = await staff(tx, task.community_id, task.street_id)
        await n.write(tx, to_staff(to, Kind.PLACE_LEFT_EMPTY, env.id, facts, res))

    async def hours_requested(tx: Tx, e: events_pb2.HoursRequested, env: Env) -> None:
        task = await store.task(tx, e.task_id)
        member = await store.member(tx, e.member_id)
        facts = task_facts(task) | {"who": who(member), "hours": templates.hours(e.minutes)}
        res = Resource(e.task_id, "", e.member_id, e.community_id, e.record_id)
        to = await staff(tx, e.community_id)
        await n.write(tx, to_staff(to, Kind.HOURS_REQUESTED, env.id, facts, res))

    async def hours_confirmed(tx: Tx, e: events_pb2.HoursConfirmed, env: Env) -> None:
        task = await store.task(tx, e.task_id)
        facts = task_facts(task) | {"hours": templates.hours(e.minutes)}
        res = Resource(e.task_id, "", e.member_id, e.community_id, e.record_id)
        await n.write(tx, [to_member(e.member_id, Kind.HOURS_CONFIRMED, env.id, facts, res)])

    async def points_moved(tx: Tx, e: events_pb2.PointsMoved, env: Env) -> None:
        if e.kind != events_pb2.POINTS_MOVEMENT_KIND_AWARD:
            return  # redemptions are the member's own doing; reversals follow a told correction
        facts = {
            "reason": e.reason or "服务",
            "points": templates.points(e.amount),
            "balance": templates.points(e.balance),
        }
        res = Resource(member_id=e.member_id, community_id=e.community_id, record_id=e.movement_id)
        await n.write(tx, [to_member(e.member_id, Kind.POINTS_EARNED, env.id, facts, res)])

    async def account_event(tx: Tx, e: events_pb2.AccountCreated, env: Env) -> None:
        await account_changed(tx, e.account, env)

    return (
        EventTable()
        .on(events_pb2.CommunityCreated, apply=community_created)
        .on(events_pb2.MemberErased, apply=member_erased)
        .on(events_pb2.MemberReportedIn, apply=reported_in)
        .on(events_pb2.CertificateExpiring, apply=certificate_expiring)
        .on(*ACCOUNT_EVENTS, apply=account_event)
        .on(*TASK_KEPT, apply=task_kept)
        .on(events_pb2.TaskCompleted, apply=task_completed)
        .on(events_pb2.TaskChanged, apply=task_changed)
        .on(events_pb2.TaskCancelled, apply=task_cancelled)
        .on(events_pb2.ProposalMade, apply=proposal_made)
        .on(events_pb2.ProposalRejected, apply=proposal_rejected)
        .on(events_pb2.AssignmentChanged, apply=assignment_changed)
        .on(events_pb2.ConfirmationRequested, apply=confirmation_requested)
        .on(events_pb2.ConfirmationOverdue, apply=confirmation_overdue)
        .on(events_pb2.PlaceLeftEmpty, apply=place_left_empty)
        .on(events_pb2.HoursRequested, apply=hours_requested)
        .on(events_pb2.HoursConfirmed, apply=hours_confirmed)
        .on(events_pb2.PointsMoved, apply=points_moved)
        # Every registry event that carries the member whole.
        .carrying(registry_pb2.Member, apply=member_changed)
    )
