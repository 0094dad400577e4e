"""A month of the district, played through the services' APIs as its people would.

Staff post a month of small wishes and the volunteer roles of the case; some members claim
wishes near them by themselves; the district is matched; members answer their proposals (most
accept, some decline, some never answer) and declined and expired places are re-offered; time
passes (the services' clock is moved through the stack's clock file); staff confirm what was done,
with hours and the residents' feedback. Used by `make demo` (the whole district) and the e2e
test (one street). Everything is seeded and repeatable.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from grpc import aio

from dev import gen_district, month_affairs, month_attendance
from dev.cast import Actors, Month, People, story
from dev.month_notify import show_inboxes
from dev.month_points import redeem_some as redeem_points
from dev.month_registry import play_standing
from dev.month_standby import confirm_or_release
from dev.month_work import members_claim, post_work
from linli.v1 import matching_pb2, tasks_pb2
from services.cli.district import import_district, import_members
from services.client import (
    Stubs,
    assignments_of,
    gather,
    members_of,
    pages,
    tasks_of,
)
from services.common.clock import FileClock
from services.common.settings import Settings

__all__ = ["Actors", "Month", "People", "play", "story"]

FEEDBACK = (
    "非常感谢，解决了大问题",
    "党员同志很耐心",
    "来得很及时",
    "服务周到",
    "下次还想请他帮忙",
)


# -- the story -------------------------------------------------------------------------------------


async def load(stubs: Stubs, actors: People, district: gen_district.District, month: Month) -> None:
    await import_district(stubs.registry, actors.admin, gen_district.yaml_text(district))
    await import_members(stubs.registry, actors.admin, district.members)
    communities = sorted({m["community_id"] for m in district.members})
    for rows in await gather(communities, lambda c: members_of(stubs, actors.admin, c), 4):
        month.members.update({m.id: m for m in rows})


async def posted_tasks(stubs: Stubs, actors: People, month: Month) -> list[str]:
    """Every task the task service holds for the month's communities (wishes and roles' days)."""
    communities = sorted({m.community_id for m in month.members.values() if m.community_id})
    found = await gather(communities, lambda c: tasks_of(stubs, actors.staff(c), c), 4)
    return sorted({t.id for group in found for t in group})


async def wait_for_matching(
    stubs: Stubs,
    actors: People,
    member_ids: Iterable[str],
    task_ids: Iterable[str],
    timeout: float = 600,
) -> None:
    """Until the matching service's read model holds every member and every task posted, by
    count. Each is asked about (SuggestTasks, SuggestMembers: NOT_FOUND while the service has
    not seen it) and asked again only while missing. Nothing is recorded: a dry run to count
    would leave a run in the history for every poll."""
    members, tasks = set(member_ids), set(task_ids)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout

    async def known(call: Awaitable[Any]) -> bool:
        try:
            await call
        except aio.AioRpcError as e:
            if e.code() == grpc.StatusCode.NOT_FOUND:
                return False
            raise
        return True

    while True:
        m_order, t_order = sorted(members), sorted(tasks)
        m_seen = await gather(
            m_order,
            lambda m: known(
                stubs.matching.SuggestTasks(
                    matching_pb2.SuggestTasksRequest(member_id=m, limit=1), metadata=actors.admin
                )
            ),
            16,
        )
        t_seen = await gather(
            t_order,
            lambda t: known(
                stubs.matching.SuggestMembers(
                    matching_pb2.SuggestMembersRequest(task_id=t, limit=1), metadata=actors.admin
                )
            ),
            16,
        )
        members -= {m for m, ok in zip(m_order, m_seen, strict=True) if ok}
        tasks -= {t for t, ok in zip(t_order, t_seen, strict=True) if ok}
        if not members and not tasks:
            return
        if loop.time() > deadline:
            raise TimeoutError(
                f"the matching service has not seen {len(members)} members and "
                f"{len(tasks)} tasks after {timeout:.0f}s"
            )
        await asyncio.sleep(1.0)


def reoffers(fresh: Iterable[tasks_pb2.Assignment], planned: set[tuple[str, str]]) -> int:
    """How many of these new proposals are re-offers: a place proposed to a member the run did
    not plan for it. A planned proposal that reaches the task service late is the run's own."""
    return sum(1 for a in fresh if (a.task_id, a.member_id) not in planned)


async def wait_for_claims(
    stubs: Stubs, actors: People, claims: Iterable[tuple[str, str, bool]], timeout: float = 600
) -> None:
    """Until the matching service's read model holds the members' own claims: the claimant is no
    longer suggested for the task, and a task whose last place was claimed has no suggestions
    at all. A run that planned without them would propose places the claims took."""
    waiting = list(claims)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout

    async def seen(claim: tuple[str, str, bool]) -> bool:
        task_id, member_id, last_place = claim
        reply = await stubs.matching.SuggestMembers(
            matching_pb2.SuggestMembersRequest(task_id=task_id, limit=50), metadata=actors.admin
        )
        suggested = {s.member_id for s in reply.members}
        return member_id not in suggested and not (last_place and suggested)

    while waiting:
        done = await gather(waiting, seen, 16)
        waiting = [c for c, ok in zip(waiting, done, strict=True) if not ok]
        if waiting and loop.time() > deadline:
            raise TimeoutError(f"the matching service has not seen {len(waiting)} claims")
        if waiting:
            await asyncio.sleep(1.0)


async def wait_for_proposals(
    stubs: Stubs,
    actors: People,
    month: Month,
    planned: set[tuple[str, str]],
    timeout: float = 300,
) -> list[tasks_pb2.Assignment]:
    """The open proposals of the run's tasks once the task service has turned every planned
    place into one (by count), or what there is at the timeout (a place claimed meanwhile is
    never proposed)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    task_ids = {t for t, _ in planned}
    while True:
        found = await open_proposals(stubs, actors, month, task_ids)
        if len({(a.task_id, a.member_id) for a in found} & planned) >= len(planned):
            return found
        if loop.time() > deadline:
            return found
        await asyncio.sleep(1.0)


async def answer(
    stubs: Stubs,
    actors: People,
    month: Month,
    rng: random.Random,
    proposals: list[tasks_pb2.Assignment],
    accept: float,
    decline: float,
) -> int:
    """Members answer proposals: accept, decline, or say nothing. Returns how many declined."""

    async def one(a: tasks_pb2.Assignment) -> str:
        roll = rng.random()
        md = actors.member(a.member_id)
        try:
            if roll < accept:
                await stubs.tasks.AcceptProposal(
                    tasks_pb2.AcceptProposalRequest(assignment_id=a.id), metadata=md
                )
                return "accepted"
            if roll < accept + decline:
                await stubs.tasks.DeclineProposal(
                    tasks_pb2.DeclineProposalRequest(
                        assignment_id=a.id, reason=rng.choice(("临时出差", "家中有事", "时间冲突"))
                    ),
                    metadata=md,
                )
                return "declined"
        except aio.AioRpcError:
            return "refused"  # expired or overtaken meanwhile
        return "unanswered"

    results = Counter(await gather(proposals, one, 16))
    month.answers.update(results)
    return results["declined"]


async def open_proposals(
    stubs: Stubs, actors: People, month: Month, task_ids: Iterable[str]
) -> list[tasks_pb2.Assignment]:
    found = await gather(
        sorted(set(task_ids)),
        lambda t: assignments_of(stubs, actors.admin, t, [tasks_pb2.ASSIGNMENT_STATE_PROPOSED]),
        16,
    )
    return [a for group in found for a in group]


async def complete_past(stubs: Stubs, actors: People, month: Month, rng: random.Random) -> None:
    communities = sorted({m.community_id for m in month.members.values() if m.community_id})
    closed = [
        t
        for group in await gather(
            communities,
            lambda c: tasks_of(stubs, actors.staff(c), c, [tasks_pb2.TASK_STATUS_CLOSED]),
            4,
        )
        for t in group
    ]

    async def complete(task: tasks_pb2.Task) -> None:
        accepted = await assignments_of(
            stubs, actors.admin, task.id, [tasks_pb2.ASSIGNMENT_STATE_ACCEPTED]
        )
        outcomes = []
        for a in accepted:
            if rng.random() < 0.05:
                outcomes.append(tasks_pb2.AssignmentOutcome(member_id=a.member_id, no_show=True))
                month.no_shows += 1
            else:
                hours = max(
                    0.25, round((task.effort_hours + rng.choice((-0.5, 0, 0, 0.5))) * 4) / 4
                )
                outcomes.append(tasks_pb2.AssignmentOutcome(member_id=a.member_id, hours=hours))
                month.hours += hours
        await stubs.tasks.CompleteTask(
            tasks_pb2.CompleteTaskRequest(
                id=task.id,
                outcomes=outcomes,
                feedback=tasks_pb2.Feedback(
                    score=rng.choices((5, 4, 3), (70, 25, 5))[0], comment=rng.choice(FEEDBACK)
                ),
            ),
            metadata=actors.staff(task.community_id),
        )
        month.completed += 1

    await gather(closed, complete, 8)


async def let_time_pass(clock: FileClock, month: Month, to: datetime, settle_s: float) -> None:
    clock.set(to - datetime.now(UTC))
    await asyncio.sleep(settle_s)  # the services read the clock each second and sweep every 5 s


async def play(
    addresses: dict[str, str],
    district: gen_district.District,
    clock: FileClock,
    *,
    seed: int = 2018,
    claim_share: float = 0.03,
    step: Callable[[str], Any] | None = None,
    actors: People | None = None,
) -> Month:
    """Play the month; `step(name)` is called as each part begins (for progress display)."""
    rng = random.Random(seed)
    clock.set(timedelta())
    month = Month(started=datetime.now(UTC))
    actors = actors or Actors(Settings())
    stubs = Stubs(addresses)
    say = step or (lambda _name: None)
    try:
        say("loading the district through the registry")
        await load(stubs, actors, district, month)
        await actors.sign_in_members(month.members)
        await play_standing(stubs, actors, month, say)
        # Before any task exists, asking about a member costs the matching service next to
        # nothing (no open task to score); members do not change during the month.
        say("waiting for the matching service to see every member")
        await wait_for_matching(stubs, actors, month.members, ())
        say("staff post a month of wishes and the volunteer roles")
        await post_work(stubs, actors, district, month, rng)
        say("members claim wishes near them by themselves")
        await members_claim(stubs, actors, month, rng, claim_share)
        say("waiting for the matching service to see every task")
        await wait_for_matching(stubs, actors, (), await posted_tasks(stubs, actors, month))
        await wait_for_claims(stubs, actors, month.claims)
        say("matching the whole district")
        month.run = (
            await stubs.matching.RunMatching(
                matching_pb2.RunMatchingRequest(time_limit_s=20),
                metadata=actors.service,
                timeout=300,
            )
        ).run
        planned = await pages(
            stubs.matching.ListMatchAssignments,
            matching_pb2.ListMatchAssignmentsRequest(run_id=month.run.id, page_size=1000),
            "assignments",
            actors.admin,
        )
        pairs = {(a.task_id, a.member_id) for a in planned}
        task_ids = {t for t, _ in pairs}
        say("members answer their proposals")
        first = await wait_for_proposals(stubs, actors, month, pairs)
        seen = {a.id for a in first}

        declined = await answer(stubs, actors, month, rng, first, 0.75, 0.15)
        for _round in range(2):
            if not declined:
                break
            await asyncio.sleep(3.0)  # declined places are re-offered at once
            fresh = [
                a for a in await open_proposals(stubs, actors, month, task_ids) if a.id not in seen
            ]
            seen |= {a.id for a in fresh}
            month.reoffered += reoffers(fresh, pairs)
            declined = await answer(stubs, actors, month, rng, fresh, 0.8, 0.1)
        say("a day passes: unanswered proposals expire and are re-offered")
        await let_time_pass(clock, month, month.started + timedelta(hours=25), 8.0)
        fresh = [
            a for a in await open_proposals(stubs, actors, month, task_ids) if a.id not in seen
        ]
        month.reoffered += reoffers(fresh, pairs)
        await answer(stubs, actors, month, rng, fresh, 0.9, 0.0)
        say("members confirm or release places two days ahead; standby lists fill them")
        await confirm_or_release(stubs, actors, month, rng, month.started + timedelta(hours=25))
        await month_attendance.play(stubs, actors, month, clock, rng, say)
        say("the month passes; staff confirm what was done")
        await let_time_pass(clock, month, month.started + timedelta(days=29), 10.0)
        await complete_past(stubs, actors, month, rng)
        await month_affairs.play(stubs, actors, district, month, clock, seed)
        month.redeemed = await redeem_points(stubs, actors, month, rng)
        say(f"points: {month.redeemed} redeemed")
        await show_inboxes(stubs, actors, month, say)
    finally:
        await stubs.close()
    return month
