"""The month's check-ins and hours. On a few days of the month staff show the rotating code on
site; members check in and out at the place (with the code alone on the street-wide dedication
day, which has no exact place); staff complete those tasks and confirm the hours proposed from
the check-ins, one corrected with a reason; a member who came without checking in asks for hours
and staff approve them."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from dev.cast import Month, People
from linli.v1 import attendance_pb2 as pb
from linli.v1 import events_pb2, tasks_pb2
from services.client import Stubs, assignments_of, gather, tasks_of
from services.common.clock import FileClock
from services.common.protoconv import time_from_proto

EXACT_DAYS = 3  # tasks at an exact place whose members check in
BEFORE_START = timedelta(minutes=10)
AFTER_END = timedelta(minutes=5)


async def _move(clock: FileClock, to: datetime, settle_s: float) -> None:
    """The services' time becomes `to` (they read the clock file each second)."""
    clock.set(to - datetime.now(UTC))
    await asyncio.sleep(settle_s)


async def _days(
    stubs: Stubs, actors: People, month: Month, after: datetime
) -> list[tuple[tasks_pb2.Task, list[str]]]:
    """A street-wide day and a few tasks at exact places, each with members holding places,
    starting after `after` and before the month's end, soonest first."""
    communities = sorted({m.community_id for m in month.members.values() if m.community_id})
    taking = [tasks_pb2.TASK_STATUS_OPEN, tasks_pb2.TASK_STATUS_FILLED]
    found = [
        t
        for group in await gather(
            communities, lambda c: tasks_of(stubs, actors.staff(c), c, taking), 4
        )
        for t in group
        if not t.window.flexible
        and after < time_from_proto(t.window.start) < month.started + timedelta(days=27)
    ]
    found.sort(key=lambda t: (time_from_proto(t.window.start), t.id))
    held = await gather(
        [t.id for t in found],
        lambda t: assignments_of(stubs, actors.admin, t, [tasks_pb2.ASSIGNMENT_STATE_ACCEPTED]),
        16,
    )
    staffed = [(t, sorted(a.member_id for a in h)) for t, h in zip(found, held, strict=True) if h]
    wide = [x for x in staffed if x[0].street_wide][:1]
    exact = [x for x in staffed if not x[0].street_wide and len(x[1]) >= 2][:EXACT_DAYS]
    return sorted(wide + exact, key=lambda x: time_from_proto(x[0].window.start))


async def play(
    stubs: Stubs,
    actors: People,
    month: Month,
    clock: FileClock,
    rng: random.Random,
    say: Callable[[str], Any],
    settle_s: float = 1.5,
) -> Counter[str]:
    """Check-ins on a few days, their hours confirmed; returns what happened, counted."""
    say("on a few days staff show the check-in code; members check in at the place")
    seen: Counter[str] = Counter()
    days = await _days(stubs, actors, month, clock() + timedelta(minutes=30))
    # The member who comes without checking in, on the first day at an exact place.
    forgetful = next(((t.id, ms[-1]) for t, ms in days if not t.street_wide), ("", ""))
    for task, members in days:
        staff = actors.staff(task.community_id)
        start, end = time_from_proto(task.window.start), time_from_proto(task.window.end)
        comers = [m for m in members if (task.id, m) != forgetful]
        for purpose, when in ((pb.CHECK_IN_PURPOSE_CHECK_IN, start - BEFORE_START),
                              (pb.CHECK_IN_PURPOSE_CHECK_OUT, end + AFTER_END)):  # fmt: skip
            await _move(clock, when, settle_s)
            code = (
                await stubs.attendance.GetCheckInCode(
                    pb.GetCheckInCodeRequest(task_id=task.id, purpose=purpose), metadata=staff
                )
            ).code
            evidence = list(
                await asyncio.gather(
                    *(_scan(stubs, actors, task, m, purpose, code) for m in comers)
                )
            )
            if purpose == pb.CHECK_IN_PURPOSE_CHECK_IN:
                seen["checked in"] += len(evidence)
                seen["code only"] += evidence.count(events_pb2.HOURS_EVIDENCE_CODE_ONLY)
        await _complete(stubs, month, task, members, staff, rng)
        await _confirm(stubs, task, staff, seen)
        if task.id == forgetful[0]:
            asked = (
                await stubs.attendance.RequestHours(
                    pb.RequestHoursRequest(
                        task_id=task.id,
                        minutes=int(task.effort_hours * 60),
                        reason="手机没电，到场后未能签到",
                    ),
                    metadata=actors.member(forgetful[1]),
                )
            ).record
            await stubs.attendance.ApproveHoursRequest(
                pb.ApproveHoursRequestRequest(record_id=asked.id), metadata=staff
            )
            seen["requests approved"] += 1
    say(
        f"{seen['checked in']} check-ins ({seen['code only']} with the code only), "
        f"{seen['confirmed']} hours confirmed, {seen['corrected']} corrected, "
        f"{seen['requests approved']} request approved"
    )
    return seen


async def _scan(
    stubs: Stubs, actors: People, task: tasks_pb2.Task, member: str, purpose: int, code: str
) -> int:
    """A member scans the code; the app sends where they stand (at the place; a street-wide
    day has none to be at, and the code alone is its evidence). Returns the evidence."""
    where = None if task.street_wide else task.location
    md = actors.member(member)
    if purpose == pb.CHECK_IN_PURPOSE_CHECK_IN:
        found = await stubs.attendance.CheckIn(
            pb.CheckInRequest(task_id=task.id, code=code, location=where), metadata=md
        )
    else:
        found = await stubs.attendance.CheckOut(
            pb.CheckOutRequest(task_id=task.id, code=code, location=where), metadata=md
        )
    return int(found.attendance.evidence)


async def _complete(
    stubs: Stubs,
    month: Month,
    task: tasks_pb2.Task,
    members: list[str],
    staff: Any,
    rng: random.Random,
) -> None:
    """Staff report the day done, as the month's other tasks are."""
    await stubs.tasks.CompleteTask(
        tasks_pb2.CompleteTaskRequest(
            id=task.id,
            outcomes=[
                tasks_pb2.AssignmentOutcome(member_id=m, hours=task.effort_hours) for m in members
            ],
            feedback=tasks_pb2.Feedback(score=rng.choice((4, 5)), comment="按时到场，签到有序"),
        ),
        metadata=staff,
    )
    month.completed += 1
    month.hours += task.effort_hours * len(members)


async def _confirm(stubs: Stubs, task: tasks_pb2.Task, staff: Any, seen: Counter[str]) -> None:
    """Staff confirm the proposed hours; then hear that the first day's first member left early
    and correct their record, with the reason (a new record; the old one is kept)."""
    proposals = (
        await stubs.attendance.ListHoursProposals(
            pb.ListHoursProposalsRequest(task_id=task.id), metadata=staff
        )
    ).proposals
    if not proposals:
        return
    records = (
        await stubs.attendance.ConfirmHours(
            pb.ConfirmHoursRequest(
                task_id=task.id,
                decisions=[pb.HoursDecision(member_id=p.member_id) for p in proposals],
            ),
            metadata=staff,
        )
    ).records
    seen["confirmed"] += len(records)
    first = records[0]
    if not seen["corrected"] and not task.street_wide and first.minutes >= 2:
        await stubs.attendance.CorrectHours(
            pb.CorrectHoursRequest(
                record_id=first.id,
                minutes=first.minutes - min(30, first.minutes // 2),
                reason="提前离开，按实际时间更正",
            ),
            metadata=staff,
        )
        seen["corrected"] += 1
