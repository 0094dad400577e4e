"""The work of the demo's month: staff post small wishes and the case's volunteer roles; some
members claim wishes near them by themselves."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from grpc import aio

from dev import gen_district
from dev.cast import Month, People, local
from linli.v1 import common_pb2, registry_pb2, tasks_pb2
from services.client import (
    Stubs,
    gather,
)
from services.common.protoconv import BENEFICIARY_TO_PROTO, ts
from services.common.values import LOCAL_TZ, Beneficiary

WISHES = (
    ("为独居老人代购一周蔬菜", "errands", Beneficiary.ELDERLY),
    ("上门陪伴空巢老人聊天", "elderly_care", Beneficiary.ELDERLY),
    ("修理漏水的水龙头", "repair_plumbing", Beneficiary.ELDERLY),
    ("更换楼道灯泡", "repair_electrical", Beneficiary.OTHER),
    ("为困难家庭孩子辅导功课", "tutoring", Beneficiary.CHILD),
    ("给贫困学生送书包文具", "errands", Beneficiary.POOR),
    ("陪同残疾居民到医院复查", "disability_support", Beneficiary.DISABLED),
    ("教老人用手机挂号", "it_help", Beneficiary.ELDERLY),
    ("帮低保户申请补助材料", "policy_outreach", Beneficiary.POOR),
    ("为行动不便居民理发", "", Beneficiary.DISABLED),
    ("为留守儿童读绘本", "reading_guide", Beneficiary.CHILD),
    ("调解邻里噪音纠纷", "mediation", Beneficiary.OTHER),
)


async def post_work(
    stubs: Stubs, actors: People, district: gen_district.District, month: Month, rng: random.Random
) -> None:
    first = (month.started.astimezone(LOCAL_TZ) + timedelta(days=1)).date()
    by_community: dict[str, list[registry_pb2.Member]] = {}
    for m in month.members.values():
        by_community.setdefault(m.community_id, []).append(m)
    wishes = []
    for community, people in sorted(by_community.items()):
        for _ in range(max(4, len(people) // 8)):
            title, skill, group = rng.choice(WISHES)
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
                        beneficiary_group=BENEFICIARY_TO_PROTO[group],
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
    child, other = BENEFICIARY_TO_PROTO[Beneficiary.CHILD], BENEFICIARY_TO_PROTO[Beneficiary.OTHER]
    elderly = BENEFICIARY_TO_PROTO[Beneficiary.ELDERLY]
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
    stubs: Stubs, actors: People, month: Month, rng: random.Random, share: float
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
                month.claims.append((task.id, member.id, task.headcount - task.places_taken <= 1))
                return True
            except aio.AioRpcError:
                continue  # taken meanwhile, or a clash: look at the next
        return False

    month.claimed = sum(await gather(eager, try_claim, 8))
