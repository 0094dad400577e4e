"""The whole system's access matrix: every id-taking call of the registry, the task service and
matching, by every kind of caller, on objects in two communities of two streets.

A call either goes through (allowed to try: it may still fail a precondition), or is refused.
A refusal of an object the caller may not see answers exactly as the same call with an id that
does not exist (same code, same message up to the id): no answer tells whether an id exists.
Where the caller legitimately sees the object but may not act on it, PERMISSION_DENIED is fine.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import grpc
import jwt
import pytest
from google.protobuf import field_mask_pb2
from grpc import aio

from linli.v1 import matching_pb2, registry_pb2, tasks_pb2
from services.common.auth import Role
from services.common.runtime import ServiceRuntime
from services.common.settings import RegistrySettings
from tests.integration.tasks_support import post, soon, stamp, until, wish
from tests.support import auth, member_proto, ref, request_id, token

pytestmark = pytest.mark.integration
Metadata = tuple[tuple[str, str], ...]
MISSING = "00000000-0000-0000-0000-0000000000a1"

ROLES = (
    "self",  # the member the object is (a member) or a member of the object's community
    "other_member",  # another member: of the same community for members, of the neighbour else
    "staff",  # community staff of the object's community
    "neighbour_staff",  # community staff of another community of the same street
    "street_admin",  # street administrator of the object's street
    "other_street_admin",  # street administrator of the other street
    "district_admin",
    "service",
    "no_token",
    "expired_token",
    "garbage_token",
)
OK, HIDDEN, DENIED, UNAUTH = "ok", "hidden", "denied", "unauthenticated"


@dataclass
class Site:
    """One side of the district: a community, its street, and the places around it."""

    street: str
    home: str
    home_grid: str
    neighbour: str
    neighbour_grid: str
    other_street: str
    member: str  # a member of `home`
    member_b: str  # another member of `home`
    neighbour_member: str  # a member of `neighbour`
    task: str = ""
    role: str = ""
    run: str = ""


@dataclass
class World:
    sites: dict[str, Site]
    settings: RegistrySettings

    def caller(self, site: Site, role: str, owner: str, other: str) -> Metadata:
        s = self.settings
        if role == "no_token":
            return ()
        if role == "garbage_token":
            return auth("not.a.token")
        if role == "expired_token":
            claims = {"iss": "linli", "aud": "linli", "sub": owner, "role": "member"}
            claims |= {"iat": int(time.time()) - 7200, "exp": int(time.time()) - 3600}
            return auth(jwt.encode(claims, s.jwt_secret.get_secret_value(), algorithm="HS256"))
        tokens = {
            "self": lambda: token(s, Role.MEMBER, owner),
            "other_member": lambda: token(s, Role.MEMBER, other),
            "staff": lambda: token(s, Role.COMMUNITY_STAFF, "mx-staff", communities=(site.home,)),
            "neighbour_staff": lambda: token(
                s, Role.COMMUNITY_STAFF, "mx-nstaff", communities=(site.neighbour,)
            ),
            "street_admin": lambda: token(s, Role.STREET_ADMIN, "mx-sa", streets=(site.street,)),
            "other_street_admin": lambda: token(
                s, Role.STREET_ADMIN, "mx-osa", streets=(site.other_street,)
            ),
            "district_admin": lambda: token(s, Role.DISTRICT_ADMIN, "mx-da"),
            "service": lambda: token(s, Role.SERVICE, "mx-svc"),
        }
        return auth(tokens[role]())


@pytest.fixture(scope="module")
async def world(  # type: ignore[no-untyped-def]
    stub, task_stub, match_stub, tasks_rt: ServiceRuntime, matching_rt: ServiceRuntime, settings
) -> World:
    s1, s2 = ref("st"), ref("st")
    c = {k: ref("c") for k in ("a1", "a2", "b1", "b2")}
    g = {k: ref("g") for k in c}

    def community(key: str, lat: float) -> str:
        return f"""
      - id: {c[key]}
        name: 社区{key}
        station: {{lat: {lat}, lng: 117.17}}
        grids:
          - {{id: {g[key]}, name: 一, center: {{lat: {lat}, lng: 117.17}}, radius_m: 300}}"""

    admin = auth(token(settings, Role.DISTRICT_ADMIN, "mx-da"))
    await stub.ImportDistrict(
        registry_pb2.ImportDistrictRequest(
            content=f"""
streets:
  - id: {s1}
    name: 甲街道
    communities:{community("a1", 36.98)}{community("a2", 36.99)}
  - id: {s2}
    name: 乙街道
    communities:{community("b1", 36.96)}{community("b2", 36.95)}
"""
        ),
        metadata=admin,
    )

    async def member(key: str) -> str:
        reply = await stub.RegisterMember(
            registry_pb2.RegisterMemberRequest(
                request_id=request_id(), member=member_proto(c[key], g[key], skills=())
            ),
            metadata=admin,
        )
        return reply.member.id  # type: ignore[no-any-return]

    sites = {}
    for name, (home, neighbour, street, other) in {
        "near": ("a1", "a2", s1, s2),
        "far": ("b1", "b2", s2, s1),
    }.items():
        sites[name] = Site(
            street=street,
            home=c[home],
            home_grid=g[home],
            neighbour=c[neighbour],
            neighbour_grid=g[neighbour],
            other_street=other,
            member=await member(home),
            member_b=await member(home),
            neighbour_member=await member(neighbour),
        )
    everyone = [m for site in sites.values() for m in (site.member, site.member_b)]
    tasks_store = tasks_rt.tasks.store  # type: ignore[attr-defined]
    matching_world = matching_rt.matching.world  # type: ignore[attr-defined]

    async def known() -> bool:
        views = [await tasks_store.member_view(None, m) for m in everyone]
        return all(v is not None and v.reported_in for v in views) and all(
            m in matching_world.members for m in everyone
        )

    await until(known, timeout=30)
    for site in sites.values():
        site.task = (await post(task_stub, admin, wish(site.home, skills=()))).id
        site.role = (
            await task_stub.CreateRole(
                tasks_pb2.CreateRoleRequest(request_id=request_id(), role=weekly_role(site.home)),
                metadata=admin,
            )
        ).role.id
        site.run = (
            await match_stub.RunMatching(
                matching_pb2.RunMatchingRequest(community_id=site.home, dry_run=True),
                metadata=admin,
            )
        ).run.id

    async def seen() -> bool:
        return all(site.task in matching_world.tasks for site in sites.values())

    await until(seen, timeout=30)
    return World(sites, settings)


def weekly_role(community: str) -> tasks_pb2.VolunteerRole:
    from datetime import UTC, datetime

    from linli.v1 import common_pb2

    today = datetime.now(UTC).date()
    return tasks_pb2.VolunteerRole(
        community_id=community,
        title="四点半学校课业辅导",
        description="放学后辅导作业",
        beneficiary_group=common_pb2.BENEFICIARY_GROUP_CHILD,
        location=common_pb2.LatLng(latitude=36.98, longitude=117.17),
        headcount=2,
        effort_hours=1.5,
        weekly=tasks_pb2.WeeklySchedule(
            days=[1, 3],
            start_minute=16 * 60 + 30,
            end_minute=18 * 60,
            first_date=common_pb2.Date(year=today.year, month=today.month, day=today.day),
        ),
    )


@dataclass
class Stubs:
    registry: Any
    tasks: Any
    matching: Any
    admin: Metadata
    service: Metadata


# An object for one case: (its id, the member who is "self" for it).
Setup = Callable[[Stubs, Site], Awaitable[tuple[str, str]]]
Call = Callable[[Stubs, Site, str, str, Metadata], Awaitable[Any]]


async def shared_member(st: Stubs, site: Site) -> tuple[str, str]:
    return site.member, site.member


async def fresh_member(st: Stubs, site: Site) -> tuple[str, str]:
    reply = await st.registry.RegisterMember(
        registry_pb2.RegisterMemberRequest(
            request_id=request_id(), member=member_proto(site.home, site.home_grid, skills=())
        ),
        metadata=st.admin,
    )
    return reply.member.id, reply.member.id


async def deactivated_member(st: Stubs, site: Site) -> tuple[str, str]:
    member_id, _ = await fresh_member(st, site)
    await st.registry.DeactivateMember(
        registry_pb2.DeactivateMemberRequest(member_id=member_id), metadata=st.admin
    )
    return member_id, member_id


async def shared_task(st: Stubs, site: Site) -> tuple[str, str]:
    return site.task, site.member


_slots = itertools.count(1)


async def fresh_task(st: Stubs, site: Site) -> tuple[str, str]:
    # Each task at its own time: one member holds many, and overlapping claims are refused.
    start = soon() + timedelta(hours=3 * next(_slots))
    return (await post(st.tasks, st.admin, wish(site.home, skills=(), start=start))).id, site.member


async def shared_role(st: Stubs, site: Site) -> tuple[str, str]:
    return site.role, site.member


async def fresh_role(st: Stubs, site: Site) -> tuple[str, str]:
    reply = await st.tasks.CreateRole(
        tasks_pb2.CreateRoleRequest(request_id=request_id(), role=weekly_role(site.home)),
        metadata=st.admin,
    )
    return reply.role.id, site.member


async def fresh_claim(st: Stubs, site: Site) -> tuple[str, str]:
    task, _ = await fresh_task(st, site)
    reply = await st.tasks.ClaimTask(
        tasks_pb2.ClaimTaskRequest(task_id=task, member_id=site.member),
        metadata=st.service,
    )
    return reply.assignment.id, site.member


async def shared_run(st: Stubs, site: Site) -> tuple[str, str]:
    return site.run, site.member


async def fresh_draft(st: Stubs, site: Site) -> tuple[str, str]:
    reply = await st.matching.RunMatching(
        matching_pb2.RunMatchingRequest(community_id=site.home, draft=True), metadata=st.admin
    )
    return reply.run.id, site.member


def update_hours(st: Stubs, site: Site, i: str, owner: str, md: Metadata) -> Awaitable[Any]:
    return st.registry.UpdateMember(  # type: ignore[no-any-return]
        registry_pb2.UpdateMemberRequest(
            member=registry_pb2.Member(id=i, hours_per_month=4),
            update_mask=field_mask_pb2.FieldMask(paths=["hours_per_month"]),
        ),
        metadata=md,
    )


MEMBER_OBJECTS = (shared_member, fresh_member, deactivated_member)
R, T, M = registry_pb2, tasks_pb2, matching_pb2

# rpc -> (setup, call, who may: role -> outcome; roles not named are HIDDEN)
MEMBER_RULE = {"self": OK, "staff": OK, "street_admin": OK, "district_admin": OK, "service": OK}
STAFF_RULE = {"staff": OK, "street_admin": OK, "district_admin": OK, "service": OK}
SEE_TASK = {**STAFF_RULE, "self": OK}
MANAGE_TASK = {**STAFF_RULE, "self": DENIED}
OWN_ASSIGNMENT = {"self": OK, "service": OK, "staff": DENIED, "street_admin": DENIED}
OWN_ASSIGNMENT |= {"district_admin": DENIED}
CASES: dict[str, tuple[Setup, Call, dict[str, str]]] = {
    # -- registry
    "registry.GetMember": (
        shared_member,
        lambda st, s, i, o, md: st.registry.GetMember(R.GetMemberRequest(id=i), metadata=md),
        MEMBER_RULE,
    ),
    "registry.UpdateMember": (fresh_member, update_hours, MEMBER_RULE),
    "registry.ReportIn": (
        fresh_member,
        lambda st, s, i, o, md: st.registry.ReportIn(
            R.ReportInRequest(member_id=i, community_id=s.home, grid_id=s.home_grid), metadata=md
        ),
        MEMBER_RULE,
    ),
    "registry.DeactivateMember": (
        fresh_member,
        lambda st, s, i, o, md: st.registry.DeactivateMember(
            R.DeactivateMemberRequest(member_id=i), metadata=md
        ),
        MEMBER_RULE,
    ),
    "registry.ReactivateMember": (
        deactivated_member,
        lambda st, s, i, o, md: st.registry.ReactivateMember(
            R.ReactivateMemberRequest(member_id=i), metadata=md
        ),
        {**MEMBER_RULE, "self": DENIED},
    ),
    # Staff decide a member's standing: members are refused at the door.
    "registry.AcceptReportIn": (
        fresh_member,
        lambda st, s, i, o, md: st.registry.AcceptReportIn(
            R.AcceptReportInRequest(member_id=i), metadata=md
        ),
        {**STAFF_RULE, "self": DENIED},
    ),
    "registry.RefuseReportIn": (
        fresh_member,
        lambda st, s, i, o, md: st.registry.RefuseReportIn(
            R.RefuseReportInRequest(member_id=i, reason="地址不符"), metadata=md
        ),
        {**STAFF_RULE, "self": DENIED},
    ),
    "registry.VerifySkill": (
        fresh_member,
        lambda st, s, i, o, md: st.registry.VerifySkill(
            R.VerifySkillRequest(
                member_id=i,
                skill="medical",
                certificate_number="110101",
                expire_time=stamp(soon(300)),
            ),
            metadata=md,
        ),
        {**STAFF_RULE, "self": DENIED},
    ),
    "registry.WithdrawSkillVerification": (
        fresh_member,
        lambda st, s, i, o, md: st.registry.WithdrawSkillVerification(
            R.WithdrawSkillVerificationRequest(member_id=i, skill="medical"), metadata=md
        ),
        {**STAFF_RULE, "self": DENIED},
    ),
    "registry.ConfirmPhoneChange": (
        fresh_member,
        lambda st, s, i, o, md: st.registry.ConfirmPhoneChange(
            R.ConfirmPhoneChangeRequest(member_id=i, code="123456"), metadata=md
        ),
        {"self": OK, "service": OK, "staff": DENIED, "street_admin": DENIED}
        | {"district_admin": DENIED},
    ),
    # -- tasks
    "tasks.GetTask": (
        shared_task,
        lambda st, s, i, o, md: st.tasks.GetTask(T.GetTaskRequest(id=i), metadata=md),
        SEE_TASK,
    ),
    "tasks.CancelTask": (
        fresh_task,
        lambda st, s, i, o, md: st.tasks.CancelTask(
            T.CancelTaskRequest(id=i, reason="测试"), metadata=md
        ),
        MANAGE_TASK,
    ),
    "tasks.CompleteTask": (
        fresh_task,
        lambda st, s, i, o, md: st.tasks.CompleteTask(
            T.CompleteTaskRequest(id=i, feedback=T.Feedback(score=5)), metadata=md
        ),
        MANAGE_TASK,
    ),
    "tasks.ClaimTask": (
        fresh_task,
        lambda st, s, i, o, md: st.tasks.ClaimTask(
            T.ClaimTaskRequest(task_id=i, member_id=o), metadata=md
        ),
        {"self": OK, "service": OK, "staff": DENIED, "street_admin": DENIED}
        | {"district_admin": DENIED},
    ),
    "tasks.ListAssignments": (
        shared_task,
        lambda st, s, i, o, md: st.tasks.ListAssignments(
            T.ListAssignmentsRequest(task_id=i), metadata=md
        ),
        SEE_TASK,
    ),
    "tasks.GetRole": (
        shared_role,
        lambda st, s, i, o, md: st.tasks.GetRole(T.GetRoleRequest(id=i), metadata=md),
        SEE_TASK,
    ),
    "tasks.EndRole": (
        fresh_role,
        lambda st, s, i, o, md: st.tasks.EndRole(
            T.EndRoleRequest(id=i, reason="测试"), metadata=md
        ),
        MANAGE_TASK,
    ),
    "tasks.WithdrawAssignment": (
        fresh_claim,
        lambda st, s, i, o, md: st.tasks.WithdrawAssignment(
            T.WithdrawAssignmentRequest(assignment_id=i), metadata=md
        ),
        OWN_ASSIGNMENT,
    ),
    "tasks.AcceptProposal": (
        fresh_claim,
        lambda st, s, i, o, md: st.tasks.AcceptProposal(
            T.AcceptProposalRequest(assignment_id=i), metadata=md
        ),
        OWN_ASSIGNMENT,
    ),
    "tasks.DeclineProposal": (
        fresh_claim,
        lambda st, s, i, o, md: st.tasks.DeclineProposal(
            T.DeclineProposalRequest(assignment_id=i), metadata=md
        ),
        OWN_ASSIGNMENT,
    ),
    "tasks.GetMemberRecord": (
        shared_member,
        lambda st, s, i, o, md: st.tasks.GetMemberRecord(
            T.GetMemberRecordRequest(member_id=i), metadata=md
        ),
        MEMBER_RULE,
    ),
    # -- matching
    "matching.GetMatchRun": (
        shared_run,
        lambda st, s, i, o, md: st.matching.GetMatchRun(M.GetMatchRunRequest(id=i), metadata=md),
        STAFF_RULE,
    ),
    "matching.ListMatchAssignments": (
        shared_run,
        lambda st, s, i, o, md: st.matching.ListMatchAssignments(
            M.ListMatchAssignmentsRequest(run_id=i), metadata=md
        ),
        STAFF_RULE,
    ),
    "matching.EditDraft": (
        fresh_draft,
        lambda st, s, i, o, md: st.matching.EditDraft(M.EditDraftRequest(run_id=i), metadata=md),
        STAFF_RULE,
    ),
    "matching.PublishDraft": (
        fresh_draft,
        lambda st, s, i, o, md: st.matching.PublishDraft(
            M.PublishDraftRequest(run_id=i), metadata=md
        ),
        STAFF_RULE,
    ),
    "matching.ListUnfilledPlaces": (
        shared_run,
        lambda st, s, i, o, md: st.matching.ListUnfilledPlaces(
            M.ListUnfilledPlacesRequest(run_id=i), metadata=md
        ),
        STAFF_RULE,
    ),
    "matching.SuggestMembers": (
        shared_task,
        lambda st, s, i, o, md: st.matching.SuggestMembers(
            M.SuggestMembersRequest(task_id=i), metadata=md
        ),
        STAFF_RULE,
    ),
    "matching.SuggestTasks": (
        shared_member,
        lambda st, s, i, o, md: st.matching.SuggestTasks(
            M.SuggestTasksRequest(member_id=i), metadata=md
        ),
        MEMBER_RULE,
    ),
}
# Calls that name a community: the organisation is public, so a refusal may say so plainly.
OUTSIDERS_DENIED = {"other_member": DENIED, "neighbour_staff": DENIED}
OUTSIDERS_DENIED |= {"other_street_admin": DENIED}


async def home_community(st: Stubs, site: Site) -> tuple[str, str]:
    return site.home, site.member


async def home_grid(st: Stubs, site: Site) -> tuple[str, str]:
    return site.home_grid, site.member


SIGNED_IN = {r: OK for r in ROLES[:8]}
CASES |= {
    "registry.GetCommunity": (
        home_community,
        lambda st, s, i, o, md: st.registry.GetCommunity(R.GetCommunityRequest(id=i), metadata=md),
        SIGNED_IN,
    ),
    "registry.GetGrid": (
        home_grid,
        lambda st, s, i, o, md: st.registry.GetGrid(R.GetGridRequest(id=i), metadata=md),
        SIGNED_IN,
    ),
    "tasks.ListTasks": (
        home_community,
        lambda st, s, i, o, md: st.tasks.ListTasks(T.ListTasksRequest(community_id=i), metadata=md),
        {**SEE_TASK, **OUTSIDERS_DENIED},
    ),
    "tasks.ListRoles": (
        home_community,
        lambda st, s, i, o, md: st.tasks.ListRoles(T.ListRolesRequest(community_id=i), metadata=md),
        {**SEE_TASK, **OUTSIDERS_DENIED},
    ),
    "matching.ListMatchRuns": (
        home_community,
        lambda st, s, i, o, md: st.matching.ListMatchRuns(
            M.ListMatchRunsRequest(community_id=i), metadata=md
        ),
        {**STAFF_RULE, **OUTSIDERS_DENIED, "self": DENIED},
    ),
    "matching.RunMatching": (
        home_community,
        lambda st, s, i, o, md: st.matching.RunMatching(
            M.RunMatchingRequest(community_id=i, dry_run=True), metadata=md
        ),
        {**STAFF_RULE, **OUTSIDERS_DENIED, "self": DENIED},
    ),
}

# The member's month: staff's changes to a task, a member's answer to "will you come?".
CASES |= {
    "tasks.UpdateTask": (
        fresh_task,
        lambda st, s, i, o, md: st.tasks.UpdateTask(
            T.UpdateTaskRequest(
                task=T.Task(id=i, title="改期的任务"),
                update_mask=field_mask_pb2.FieldMask(paths=["title"]),
            ),
            metadata=md,
        ),
        MANAGE_TASK,
    ),
    "tasks.ConfirmAssignment": (
        fresh_claim,
        lambda st, s, i, o, md: st.tasks.ConfirmAssignment(
            T.ConfirmAssignmentRequest(assignment_id=i), metadata=md
        ),
        OWN_ASSIGNMENT,
    ),
    "tasks.ReleaseAssignment": (
        fresh_claim,
        lambda st, s, i, o, md: st.tasks.ReleaseAssignment(
            T.ReleaseAssignmentRequest(assignment_id=i), metadata=md
        ),
        OWN_ASSIGNMENT,
    ),
    # A calendar is its member's own, as an assignment is.
    "tasks.GetMemberCalendar": (
        shared_member,
        lambda st, s, i, o, md: st.tasks.GetMemberCalendar(
            T.GetMemberCalendarRequest(member_id=i), metadata=md
        ),
        OWN_ASSIGNMENT,
    ),
}

# Calls whose "allowed" may still end in a domain answer other than OK.
TRIED = {
    grpc.StatusCode.OK,
    grpc.StatusCode.FAILED_PRECONDITION,
}
TRIED_BY = {"registry.ConfirmPhoneChange": {grpc.StatusCode.INVALID_ARGUMENT}}

# Holes the matrix finds, each with what is wrong, marked xfail until fixed: (rpc, role) -> why.
HOLES: dict[tuple[str, str], str] = {}


def expected(rpc: str, role: str) -> str:
    if role in ("no_token", "expired_token", "garbage_token"):
        return UNAUTH
    return CASES[rpc][2].get(role, HIDDEN)


def params() -> list[Any]:
    out = []
    for rpc in CASES:
        for role in ROLES:
            for where in ("near", "far"):
                marks = []
                hole = HOLES.get((rpc, role)) or HOLES.get((rpc, f"{role}@{where}"))
                if hole:
                    marks.append(pytest.mark.xfail(strict=True, reason=hole))
                out.append(pytest.param(rpc, role, where, marks=marks, id=f"{rpc}-{role}-{where}"))
    return out


async def answer(call: Awaitable[Any]) -> tuple[grpc.StatusCode, str]:
    try:
        await call
    except aio.AioRpcError as e:
        return e.code(), e.details() or ""
    return grpc.StatusCode.OK, ""


@pytest.mark.parametrize(("rpc", "role", "where"), params())
async def test_access(  # type: ignore[no-untyped-def]
    world: World, stub, task_stub, match_stub, rpc: str, role: str, where: str
) -> None:
    site = world.sites[where]
    st = Stubs(
        stub,
        task_stub,
        match_stub,
        auth(token(world.settings, Role.DISTRICT_ADMIN, "mx-da")),
        auth(token(world.settings, Role.SERVICE, "mx-svc")),
    )
    setup, call, _ = CASES[rpc]
    object_id, owner = await setup(st, site)
    # Another member: of the same community when the object is a member (neighbours must not
    # see each other), of the neighbour community when it is a task or a run.
    if setup in MEMBER_OBJECTS:
        other = site.member_b if owner == site.member else site.member
    else:
        other = site.neighbour_member
    md = world.caller(site, role, owner, other)
    acting = other if role == "other_member" else owner  # members act as themselves
    want = expected(rpc, role)

    got = await answer(call(st, site, object_id, acting, md))

    if want == OK:
        assert got[0] in TRIED | TRIED_BY.get(rpc, set()), got
    elif want == UNAUTH:
        assert got[0] == grpc.StatusCode.UNAUTHENTICATED, got
    elif want == DENIED:
        assert got[0] == grpc.StatusCode.PERMISSION_DENIED, got
    else:
        missing = await answer(call(st, site, MISSING, acting, md))
        assert got[0] not in TRIED, got
        assert (got[0], got[1].replace(object_id, "<id>")) == (
            missing[0],
            missing[1].replace(MISSING, "<id>"),
        )


# role -> which members of the site's community it lists ("all", "self" or "none")
LISTS = {
    "self": "self",
    "other_member": "self",
    "staff": "all",
    "neighbour_staff": "none",
    "street_admin": "all",
    "other_street_admin": "none",
    "district_admin": "all",
    "service": "all",
}


@pytest.mark.parametrize("where", ["near", "far"])
@pytest.mark.parametrize("role", list(LISTS))
async def test_listing_members_shows_only_the_members_a_caller_may_see(  # type: ignore[no-untyped-def]
    world: World, stub, role: str, where: str
) -> None:
    site = world.sites[where]
    md = world.caller(site, role, site.member, site.member_b)
    expected = {
        "all": {site.member, site.member_b},
        "self": {site.member if role == "self" else site.member_b},
        "none": set(),
    }[LISTS[role]]

    reply = await stub.ListMembers(
        registry_pb2.ListMembersRequest(community_id=site.home, page_size=1000), metadata=md
    )
    if LISTS[role] == "all":  # other tests register more members here
        assert expected <= {m.id for m in reply.members}
        assert {m.community_id for m in reply.members} == {site.home}
    else:
        assert {m.id for m in reply.members} == expected
    if LISTS[role] != "all":  # without a filter, nobody else's members either
        reply = await stub.ListMembers(registry_pb2.ListMembersRequest(), metadata=md)
        listed = {m.id for m in reply.members}
        assert listed & {site.member, site.member_b} == expected
        if LISTS[role] == "self":
            assert listed == expected
