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
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import grpc
from google.protobuf import timestamp_pb2
from grpc import aio

from dev import gen_district
from linli.v1 import common_pb2, matching_pb2, registry_pb2, tasks_pb2
from services.cli.district import import_district, import_members
from services.client import (
    Metadata,
    Stubs,
    assignments_of,
    gather,
    members_of,
    pages,
    tasks_of,
)
from services.common.auth import Principal, Role, issue_token
from services.common.clock import FileClock
from services.common.settings import Settings

LOCAL = ZoneInfo("Asia/Shanghai")
GROUPS = (
    ("elderly", common_pb2.BENEFICIARY_GROUP_ELDERLY, 0.34),
    ("child", common_pb2.BENEFICIARY_GROUP_CHILD, 0.18),
    ("disabled", common_pb2.BENEFICIARY_GROUP_DISABLED, 0.12),
    ("poor", common_pb2.BENEFICIARY_GROUP_POOR, 0.14),
    ("other", common_pb2.BENEFICIARY_GROUP_OTHER, 0.22),
)
WISHES = (
    ("为独居老人代购一周蔬菜", "errands", "elderly"),
    ("上门陪伴空巢老人聊天", "elderly_care", "elderly"),
    ("修理漏水的水龙头", "repair_plumbing", "elderly"),
    ("更换楼道灯泡", "repair_electrical", "other"),
    ("为困难家庭孩子辅导功课", "tutoring", "child"),
    ("给贫困学生送书包文具", "errands", "poor"),
    ("陪同残疾居民到医院复查", "disability_support", "disabled"),
    ("教老人用手机挂号", "it_help", "elderly"),
    ("帮低保户申请补助材料", "policy_outreach", "poor"),
    ("为行动不便居民理发", "", "disabled"),
    ("为留守儿童读绘本", "reading_guide", "child"),
    ("调解邻里噪音纠纷", "mediation", "other"),
)
FEEDBACK = (
    "非常感谢，解决了大问题",
    "党员同志很耐心",
    "来得很及时",
    "服务周到",
    "下次还想请他帮忙",
)


@dataclass
class Month:
    started: datetime
    members: dict[str, registry_pb2.Member] = field(default_factory=dict)  # id -> member
    wishes: int = 0
    roles: int = 0
    role_tasks: int = 0
    claimed: int = 0
    run: matching_pb2.MatchRun | None = None
    answers: Counter[str] = field(default_factory=Counter)  # accepted / declined / unanswered
    reoffered: int = 0
    completed: int = 0
    hours: float = 0.0
    no_shows: int = 0
    steps: list[tuple[str, float]] = field(default_factory=list)  # (what, seconds)


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
        ("tasks confirmed done", month.completed),
        ("hours given", f"{month.hours:,.1f}"),
        ("no-shows", month.no_shows),
    ]


def ts(when: datetime) -> timestamp_pb2.Timestamp:
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(when.astimezone(UTC))
    return out


def local(day: date, minute: int) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=LOCAL) + timedelta(minutes=minute)


class Actors:
    """Tokens for everyone who acts: the district office, each community's staff, members."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.admin = self._md(Principal("district-office", Role.DISTRICT_ADMIN))
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


# -- the story -------------------------------------------------------------------------------------


async def load(stubs: Stubs, actors: Actors, district: gen_district.District, month: Month) -> None:
    await import_district(stubs.registry, actors.admin, gen_district.yaml_text(district))
    await import_members(stubs.registry, actors.admin, district.members)
    communities = sorted({m["community_id"] for m in district.members})
    for rows in await gather(communities, lambda c: members_of(stubs, actors.admin, c), 4):
        month.members.update({m.id: m for m in rows})


async def post_work(
    stubs: Stubs, actors: Actors, district: gen_district.District, month: Month, rng: random.Random
) -> None:
    first = (month.started.astimezone(LOCAL) + timedelta(days=1)).date()
    by_community: dict[str, list[registry_pb2.Member]] = {}
    for m in month.members.values():
        by_community.setdefault(m.community_id, []).append(m)
    wishes = []
    for community, people in sorted(by_community.items()):
        for _ in range(max(4, len(people) // 8)):
            title, skill, group = rng.choice(WISHES)
            group_enum = next(g for name, g, _ in GROUPS if name == group)
            home = rng.choice(people).home
            day = first + timedelta(days=rng.randint(0, 26))
            effort = rng.choice((1.0, 1.0, 1.5, 2.0))
            if rng.random() < 0.3:
                window = tasks_pb2.TimeWindow(end=ts(local(day, 21 * 60)), flexible=True)
            else:
                start = (
                    rng.choice((540, 600, 840, 900))
                    if day.isoweekday() >= 6
                    else rng.choice((1110, 1140))
                )
                window = tasks_pb2.TimeWindow(
                    start=ts(local(day, start)),
                    end=ts(local(day, start) + timedelta(hours=effort + 1)),
                )
            wishes.append(
                (
                    community,
                    tasks_pb2.Wish(
                        community_id=community,
                        title=title,
                        beneficiary_group=group_enum,
                        location=common_pb2.LatLng(
                            latitude=home.latitude + rng.uniform(-5e-4, 5e-4),
                            longitude=home.longitude + rng.uniform(-5e-4, 5e-4),
                        ),
                        address="（合成地址）",
                        headcount=rng.choice((1, 1, 1, 2)),
                        window=window,
                        effort_hours=effort,
                        skills=[tasks_pb2.RequiredSkill(skill=skill, min_level=1)] if skill else [],
                    ),
                )
            )

    async def post(item: tuple[int, tuple[str, tasks_pb2.Wish]]) -> None:
        n, (community, wish) = item
        await stubs.tasks.PostWish(
            tasks_pb2.PostWishRequest(
                request_id=f"month-{month.started:%Y%m%d}-wish-{n}", wish=wish
            ),
            metadata=actors.staff(community),
        )

    await gather(list(enumerate(wishes)), post)
    month.wishes = len(wishes)

    stations = {c["id"]: c["station"] for s in district.org["streets"] for c in s["communities"]}
    streets = {c["id"]: s["id"] for s in district.org["streets"] for c in s["communities"]}

    def at(community: str) -> common_pb2.LatLng:
        return common_pb2.LatLng(
            latitude=stations[community]["lat"], longitude=stations[community]["lng"]
        )

    def weekly(days: list[Any], start: int, end: int) -> tasks_pb2.WeeklySchedule:
        return tasks_pb2.WeeklySchedule(
            days=days,
            start_minute=start,
            end_minute=end,
            first_date=common_pb2.Date(year=first.year, month=first.month, day=first.day),
        )

    saturday = first + timedelta(days=(6 - first.isoweekday()) % 7 + 7)
    roles: list[tuple[str, tasks_pb2.VolunteerRole]] = []
    child, other = common_pb2.BENEFICIARY_GROUP_CHILD, common_pb2.BENEFICIARY_GROUP_OTHER
    elderly = common_pb2.BENEFICIARY_GROUP_ELDERLY
    if "chengli" in stations:
        roles.append(
            (
                "chengli",
                tasks_pb2.VolunteerRole(
                    community_id="chengli",
                    unit_id=gen_district.SCHOOL_ID,
                    title="四点半学校课业辅导",
                    description="放学后到家长下班前，实验小学党员教师辅导作业",
                    beneficiary_group=child,
                    location=at("chengli"),
                    headcount=3,
                    effort_hours=1.5,
                    skills=[tasks_pb2.RequiredSkill(skill="tutoring", min_level=2)],
                    weekly=weekly([1, 2, 3, 4, 5], 16 * 60 + 30, 18 * 60),
                ),
            )
        )
    if "binhu" in stations:
        roles.append(
            (
                "binhu",
                tasks_pb2.VolunteerRole(
                    community_id="binhu",
                    title="居民信息入户调查",
                    beneficiary_group=other,
                    location=at("binhu"),
                    headcount=4,
                    effort_hours=2.5,
                    skills=[tasks_pb2.RequiredSkill(skill="survey", min_level=1)],
                    weekly=weekly([6], 9 * 60, 11 * 60 + 30),
                ),
            )
        )
    for community in ("yinshan", "huayang"):
        if community in stations:
            roles.append(
                (
                    community,
                    tasks_pb2.VolunteerRole(
                        community_id=community,
                        title="创卫：小区环境卫生整治",
                        beneficiary_group=other,
                        location=at(community),
                        headcount=5,
                        effort_hours=2.0,
                        weekly=weekly([6, 7], 8 * 60, 10 * 60),
                    ),
                )
            )
    for community in sorted(stations)[:4]:
        roles.append(
            (
                community,
                tasks_pb2.VolunteerRole(
                    community_id=community,
                    title="微型消防站值守",
                    beneficiary_group=elderly,
                    location=at(community),
                    headcount=2,
                    effort_hours=1.5,
                    skills=[tasks_pb2.RequiredSkill(skill="fire_safety", min_level=1)],
                    weekly=weekly([3], 19 * 60, 20 * 60 + 30),
                ),
            )
        )
    host = "binhu" if "binhu" in stations else sorted(stations)[0]
    roles.append(
        (
            host,
            tasks_pb2.VolunteerRole(
                community_id=host,
                title="党员奉献日：街道环境清洁与政策宣讲",
                beneficiary_group=other,
                location=at(host),
                headcount=40,
                effort_hours=3.0,
                street_wide=True,
                once=tasks_pb2.OneOffSchedule(
                    window=tasks_pb2.TimeWindow(
                        start=ts(local(saturday, 8 * 60 + 30)),
                        end=ts(local(saturday, 11 * 60 + 30)),
                    )
                ),
            ),
        )
    )
    assert all(streets[c] for c, _ in roles)

    async def create(item: tuple[str, tasks_pb2.VolunteerRole]) -> int:
        community, role = item
        reply = await stubs.tasks.CreateRole(
            tasks_pb2.CreateRoleRequest(
                request_id=f"month-role-{community}-{role.title}", role=role
            ),
            metadata=actors.staff(community),
        )
        return int(reply.tasks_generated)

    month.role_tasks = sum(await gather(roles, create, 4))
    month.roles = len(roles)


async def members_claim(
    stubs: Stubs, actors: Actors, month: Month, rng: random.Random, share: float
) -> None:
    """Some members look for wishes near home and claim one themselves."""
    people = [m for m in month.members.values() if m.community_id]
    eager = rng.sample(people, max(1, int(len(people) * share)))

    async def try_claim(member: registry_pb2.Member) -> bool:
        md = actors.member(member.id)
        near = await stubs.tasks.SearchNearbyTasks(
            tasks_pb2.SearchNearbyTasksRequest(near=member.home, radius_m=1500, limit=5),
            metadata=md,
        )
        for task in near.tasks:
            if task.kind != tasks_pb2.TASK_KIND_WISH:
                continue
            try:
                await stubs.tasks.ClaimTask(
                    tasks_pb2.ClaimTaskRequest(task_id=task.id), metadata=md
                )
                return True
            except aio.AioRpcError:
                continue  # taken meanwhile, or a clash: look at the next
        return False

    month.claimed = sum(await gather(eager, try_claim, 8))


async def posted_tasks(stubs: Stubs, actors: Actors, month: Month) -> list[str]:
    """Every task the task service holds for the month's communities (wishes and roles' days)."""
    communities = sorted({m.community_id for m in month.members.values() if m.community_id})
    found = await gather(communities, lambda c: tasks_of(stubs, actors.staff(c), c), 4)
    return sorted({t.id for group in found for t in group})


async def wait_for_matching(
    stubs: Stubs,
    actors: Actors,
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


async def wait_for_proposals(
    stubs: Stubs,
    actors: Actors,
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
    actors: Actors,
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
    stubs: Stubs, actors: Actors, month: Month, task_ids: Iterable[str]
) -> list[tasks_pb2.Assignment]:
    found = await gather(
        sorted(set(task_ids)),
        lambda t: assignments_of(stubs, actors.admin, t, [tasks_pb2.ASSIGNMENT_STATE_PROPOSED]),
        16,
    )
    return [a for group in found for a in group]


async def complete_past(stubs: Stubs, actors: Actors, month: Month, rng: random.Random) -> None:
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
) -> Month:
    """Play the month; `step(name)` is called as each part begins (for progress display)."""
    rng = random.Random(seed)
    clock.set(timedelta())
    month = Month(started=datetime.now(UTC))
    actors = Actors(Settings())
    stubs = Stubs(addresses)
    say = step or (lambda _name: None)
    try:
        say("loading the district through the registry")
        await load(stubs, actors, district, month)
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
        say("matching the whole district")
        month.run = (
            await stubs.matching.RunMatching(
                matching_pb2.RunMatchingRequest(time_limit_s=20), metadata=actors.admin, timeout=300
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
        say("the month passes; staff confirm what was done")
        await let_time_pass(clock, month, month.started + timedelta(days=29), 10.0)
        await complete_past(stubs, actors, month, rng)
    finally:
        await stubs.close()
    return month
