"""The month's standby and confirmations: members wait on full tasks' standby lists; two days
before a task its members are asked whether they will come, most confirm and some release their
place, and the freed places go to the members waiting, who take them."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta

from grpc import aio

from dev.cast import Month, People
from linli.v1 import tasks_pb2
from services.client import Stubs, assignments_of, gather, pages
from services.common.protoconv import ts

ACCEPTED = tasks_pb2.ASSIGNMENT_STATE_ACCEPTED
PROPOSED = tasks_pb2.ASSIGNMENT_STATE_PROPOSED


async def upcoming(
    stubs: Stubs, actors: People, month: Month, now: datetime, ahead: timedelta
) -> list[tasks_pb2.Task]:
    """The month's open and full tasks starting within `ahead` of `now`."""
    communities = sorted({m.community_id for m in month.members.values() if m.community_id})

    async def of(community: str) -> list[tasks_pb2.Task]:
        return await pages(
            stubs.tasks.ListTasks,
            tasks_pb2.ListTasksRequest(
                community_id=community,
                statuses=[tasks_pb2.TASK_STATUS_OPEN, tasks_pb2.TASK_STATUS_FILLED],
                start_after=ts(now),
                start_before=ts(now + ahead),
                page_size=1000,
            ),
            "tasks",
            actors.staff(community),
        )

    return [t for group in await gather(communities, of, 4) for t in group]


async def join_standby(
    stubs: Stubs, actors: People, month: Month, rng: random.Random, tasks: list[tasks_pb2.Task]
) -> set[str]:
    """A neighbour waits on each of some full tasks; the tasks they wait on."""
    full = [t for t in tasks if t.status == tasks_pb2.TASK_STATUS_FILLED]
    neighbours: dict[str, list[str]] = {}
    for m in month.members.values():
        neighbours.setdefault(m.community_id, []).append(m.id)
    waited: set[str] = set()
    for task in rng.sample(full, min(len(full), 40)):
        held = {a.member_id for a in await assignments_of(stubs, actors.admin, task.id)}
        free = sorted(set(neighbours.get(task.community_id, [])) - held)
        if not free:
            continue
        try:
            await stubs.tasks.JoinStandby(
                tasks_pb2.JoinStandbyRequest(task_id=task.id),
                metadata=actors.member(rng.choice(free)),
            )
        except aio.AioRpcError:
            continue  # refused: out of reach, or the task changed meanwhile
        month.standby_joined += 1
        waited.add(task.id)
    return waited


async def asked(
    stubs: Stubs, actors: People, tasks: list[tasks_pb2.Task], wait_s: float
) -> list[tasks_pb2.Assignment]:
    """The accepted places the reminder loop has asked about, once it has asked (or at the
    time limit, what it asked by then)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while True:
        found = [
            a
            for group in await gather(
                [t.id for t in tasks],
                lambda t: assignments_of(stubs, actors.admin, t, [ACCEPTED]),
                16,
            )
            for a in group
        ]
        questions = [a for a in found if a.HasField("confirm_request_time")]
        if (found and len(questions) == len(found)) or loop.time() > deadline:
            return questions
        await asyncio.sleep(1.0)


async def confirm_or_release(
    stubs: Stubs,
    actors: People,
    month: Month,
    rng: random.Random,
    now: datetime,
    *,
    release: float = 0.1,
    silent: float = 0.1,
    wait_s: float = 60.0,
) -> None:
    """Two days ahead of `now`: members wait on full tasks, answer "will you come?", and the
    places released go to the members waiting."""
    tasks = await upcoming(stubs, actors, month, now, timedelta(hours=47))
    waited = await join_standby(stubs, actors, month, rng, tasks)

    async def answer(a: tasks_pb2.Assignment) -> None:
        roll, md = rng.random(), actors.member(a.member_id)
        try:
            if roll < release:
                await stubs.tasks.ReleaseAssignment(
                    tasks_pb2.ReleaseAssignmentRequest(assignment_id=a.id), metadata=md
                )
                month.released += 1
            elif roll >= release + silent:
                await stubs.tasks.ConfirmAssignment(
                    tasks_pb2.ConfirmAssignmentRequest(assignment_id=a.id), metadata=md
                )
                month.confirmed += 1
        except aio.AioRpcError:
            return  # the task began or changed meanwhile

    await gather(await asked(stubs, actors, tasks, wait_s), answer, 16)
    await asyncio.sleep(3.0)  # freed places go to the standby lists at once

    async def take(task_id: str) -> None:
        for a in await assignments_of(stubs, actors.admin, task_id, [PROPOSED]):
            if a.source != tasks_pb2.ASSIGNMENT_SOURCE_STANDBY:
                continue
            try:
                await stubs.tasks.AcceptProposal(
                    tasks_pb2.AcceptProposalRequest(assignment_id=a.id),
                    metadata=actors.member(a.member_id),
                )
            except aio.AioRpcError:
                continue
            month.standby_filled += 1

    await gather(sorted(waited), take, 8)
