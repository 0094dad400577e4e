"""A member's standing over the real servers: a report-in pending until the community's staff
accept it (the task service hides the community's tasks until then), and skills that need proof
counting for claims and matching only with a certificate staff verified, reminded a month ahead
and ended at its expiry."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from grpc import aio
from nats.aio.client import Client as NatsClient

from linli.v1 import events_pb2, registry_pb2, tasks_pb2
from services.common.runtime import ServiceRuntime
from services.common.settings import RegistrySettings
from tests.integration.conftest import MovableClock
from tests.integration.errors import bad_request_fields
from tests.integration.events import wait_for_events
from tests.integration.tasks_support import (
    Metadata,
    Neighbourhood,
    make_neighbourhood,
    post,
    soon,
    stamp,
    until,
    wish,
)
from tests.support import member_proto, request_id

pytestmark = pytest.mark.integration

R = registry_pb2
PENDING, ACCEPTED, REFUSED = (
    R.REPORT_IN_STATE_PENDING,
    R.REPORT_IN_STATE_ACCEPTED,
    R.REPORT_IN_STATE_REFUSED,
)


@pytest.fixture
async def hood(stub, tasks_rt: ServiceRuntime, settings: RegistrySettings) -> Neighbourhood:  # type: ignore[no-untyped-def]
    return await make_neighbourhood(stub, tasks_rt, settings, members=0, outsiders=0)


async def outcome(call: Awaitable[Any]) -> tuple[grpc.StatusCode, Any]:
    try:
        return grpc.StatusCode.OK, await call
    except aio.AioRpcError as e:
        return e.code(), e


def refusal(err: aio.AioRpcError) -> str:
    """The machine-readable refusal of a refused claim."""
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            for detail in status_pb2.Status.FromString(value).details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info):
                    return info.metadata.get("refusal", info.reason)  # type: ignore[no-any-return]
    return ""


async def self_reported(stub, hood: Neighbourhood, skills=(("errands", 2),)) -> str:  # type: ignore[no-untyped-def]
    """A member the app's backend registered, who reports in to `home` themself: pending."""
    m = await stub.RegisterMember(
        R.RegisterMemberRequest(request_id=request_id(), member=member_proto(skills=skills)),
        metadata=hood.service,
    )
    reply = await stub.ReportIn(
        R.ReportInRequest(member_id=m.member.id, community_id=hood.home, grid_id=hood.home_grid),
        metadata=hood.as_member(m.member.id),
    )
    assert reply.member.report_in_state == PENDING
    return m.member.id  # type: ignore[no-any-return]


async def tasks_know(tasks_rt: ServiceRuntime, member_id: str, **want: object) -> None:
    store = tasks_rt.tasks.store  # type: ignore[attr-defined]

    async def seen() -> bool:
        view = await store.member_view(None, member_id)
        return view is not None and all(getattr(view, k) == v for k, v in want.items())

    await until(seen)


async def visible_tasks(task_stub, md: Metadata, community: str) -> set[str]:  # type: ignore[no-untyped-def]
    listed = await task_stub.ListTasks(
        tasks_pb2.ListTasksRequest(community_id=community), metadata=md
    )
    return {t.id for t in listed.tasks}


async def test_a_pending_member_sees_no_task_of_the_community_and_cannot_claim_until_accepted(
    stub, task_stub, tasks_rt: ServiceRuntime, hood: Neighbourhood
) -> None:  # type: ignore[no-untyped-def]
    member = await self_reported(stub, hood)
    md = hood.as_member(member)
    task = await post(task_stub, hood.staff, wish(hood.home))
    await tasks_know(tasks_rt, member, community_id=hood.home, reported_in=False)

    assert task.id not in await visible_tasks(task_stub, md, hood.home)
    # Answered as for a member who never reported in anywhere.
    nowhere = await stub.RegisterMember(
        R.RegisterMemberRequest(request_id=request_id(), member=member_proto()),
        metadata=hood.service,
    )
    stranger = hood.as_member(nowhere.member.id)
    await tasks_know(tasks_rt, nowhere.member.id, reported_in=False)
    for call in (
        lambda md: task_stub.GetTask(tasks_pb2.GetTaskRequest(id=task.id), metadata=md),
        lambda md: task_stub.ClaimTask(tasks_pb2.ClaimTaskRequest(task_id=task.id), metadata=md),
    ):
        got, err = await outcome(call(md))
        want, err_stranger = await outcome(call(stranger))
        assert got != grpc.StatusCode.OK
        assert (got, err.details()) == (want, err_stranger.details())

    queue = await stub.ListMembers(
        R.ListMembersRequest(community_id=hood.home, report_in_state=PENDING), metadata=hood.staff
    )
    assert [m.id for m in queue.members] == [member]

    accepted = await stub.AcceptReportIn(
        R.AcceptReportInRequest(member_id=member), metadata=hood.staff
    )
    assert accepted.member.report_in_state == ACCEPTED
    assert accepted.member.HasField("report_in_decide_time")
    await tasks_know(tasks_rt, member, reported_in=True)
    assert task.id in await visible_tasks(task_stub, md, hood.home)
    await task_stub.ClaimTask(tasks_pb2.ClaimTaskRequest(task_id=task.id), metadata=md)
    queue = await stub.ListMembers(
        R.ListMembersRequest(community_id=hood.home, report_in_state=PENDING), metadata=hood.staff
    )
    assert queue.members == []


async def test_staff_of_another_community_cannot_accept_and_learn_nothing_of_the_member(
    stub, tasks_rt: ServiceRuntime, hood: Neighbourhood
) -> None:  # type: ignore[no-untyped-def]
    member = await self_reported(stub, hood)
    missing = "00000000-0000-4000-8000-000000000000"
    answers = []
    for who in (member, missing):
        got, err = await outcome(
            stub.AcceptReportIn(R.AcceptReportInRequest(member_id=who), metadata=hood.other_staff)
        )
        assert got == grpc.StatusCode.NOT_FOUND
        answers.append(err.details().replace(who, "<id>"))
    assert answers[0] == answers[1]
    got, _ = await outcome(
        stub.AcceptReportIn(
            R.AcceptReportInRequest(member_id=member), metadata=hood.as_member(member)
        )
    )
    assert got == grpc.StatusCode.PERMISSION_DENIED
    still = await stub.GetMember(R.GetMemberRequest(id=member), metadata=hood.staff)
    assert still.member.report_in_state == PENDING


async def test_a_refused_report_in_keeps_the_tasks_hidden_and_may_be_made_again(
    stub, task_stub, tasks_rt: ServiceRuntime, hood: Neighbourhood, nats_client: NatsClient
) -> None:  # type: ignore[no-untyped-def]
    member = await self_reported(stub, hood)
    md = hood.as_member(member)
    task = await post(task_stub, hood.staff, wish(hood.home))
    got, err = await outcome(
        stub.RefuseReportIn(
            R.RefuseReportInRequest(member_id=member, reason=""), metadata=hood.staff
        )
    )
    assert got == grpc.StatusCode.INVALID_ARGUMENT
    assert set(bad_request_fields(err)) == {"reason"}
    refused = await stub.RefuseReportIn(
        R.RefuseReportInRequest(member_id=member, reason="住址不在本社区，请到居住地社区报到"),
        metadata=hood.staff,
    )
    assert refused.member.report_in_state == REFUSED
    own = await stub.GetMember(R.GetMemberRequest(id=member), metadata=md)
    assert own.member.report_in_refusal_reason == "住址不在本社区，请到居住地社区报到"
    found = await wait_for_events(
        nats_client.jetstream(),
        "linli.registry.member.reportin_refused",
        lambda env: _carries(env, events_pb2.ReportInRefused, member),
        1,
    )
    assert found
    await tasks_know(tasks_rt, member, community_id=hood.home, reported_in=False)
    assert task.id not in await visible_tasks(task_stub, md, hood.home)

    again = await stub.ReportIn(
        R.ReportInRequest(member_id=member, community_id=hood.home, grid_id=hood.home_grid),
        metadata=md,
    )
    assert again.member.report_in_state == PENDING
    assert again.member.report_in_refusal_reason == ""
    await stub.AcceptReportIn(R.AcceptReportInRequest(member_id=member), metadata=hood.staff)
    await tasks_know(tasks_rt, member, reported_in=True)
    assert task.id in await visible_tasks(task_stub, md, hood.home)


def _carries(env: events_pb2.EventEnvelope, kind: type, member_id: str) -> bool:
    payload = kind()
    env.payload.Unpack(payload)
    return payload.member.id == member_id  # type: ignore[attr-defined,no-any-return]


async def test_a_member_who_moves_is_pending_in_the_new_community_and_its_read_model_says_so(
    stub, tasks_rt: ServiceRuntime, hood: Neighbourhood
) -> None:  # type: ignore[no-untyped-def]
    member = await self_reported(stub, hood)
    await stub.AcceptReportIn(R.AcceptReportInRequest(member_id=member), metadata=hood.staff)
    await tasks_know(tasks_rt, member, community_id=hood.home, reported_in=True)
    moved = await stub.ReportIn(
        R.ReportInRequest(member_id=member, community_id=hood.other, grid_id=hood.other_grid),
        metadata=hood.as_member(member),
    )
    assert moved.member.report_in_state == PENDING
    await tasks_know(tasks_rt, member, community_id=hood.other, reported_in=False)


# -- skills that need proof ----------------------------------------------------------------------


def verify(member: str, skill: str, number: str, expires: datetime) -> R.VerifySkillRequest:
    return R.VerifySkillRequest(
        member_id=member, skill=skill, certificate_number=number, expire_time=stamp(expires)
    )


async def staff_registered(stub, hood: Neighbourhood, skills) -> str:  # type: ignore[no-untyped-def]
    """A member registered into `home` by its staff: accepted at once."""
    m = await stub.RegisterMember(
        R.RegisterMemberRequest(
            request_id=request_id(),
            member=member_proto(hood.home, hood.home_grid, skills=skills),
        ),
        metadata=hood.staff,
    )
    assert m.member.report_in_state == ACCEPTED
    return m.member.id  # type: ignore[no-any-return]


async def test_a_skill_needing_proof_is_neither_claimable_nor_matched_until_verified(
    stub, task_stub, tasks_rt: ServiceRuntime, matching_rt: ServiceRuntime, hood: Neighbourhood
) -> None:  # type: ignore[no-untyped-def]
    member = await staff_registered(stub, hood, (("medical", 3), ("errands", 2)))
    md = hood.as_member(member)
    world = matching_rt.matching.world  # type: ignore[attr-defined]
    await tasks_know(tasks_rt, member, reported_in=True)

    async def matching_sees(skills: set[str]) -> bool:
        m = world.members.get(member)
        return m is not None and set(m.skills) == skills

    await until(lambda: matching_sees({"errands"}))
    task = await post(
        task_stub, hood.staff, wish(hood.home, skills=("medical",), title="上门为卧床老人量血压")
    )
    got, err = await outcome(
        task_stub.ClaimTask(tasks_pb2.ClaimTaskRequest(task_id=task.id), metadata=md)
    )
    assert got == grpc.StatusCode.FAILED_PRECONDITION
    assert refusal(err) == "SKILL_UNVERIFIED"

    expires = datetime.now(UTC) + timedelta(days=365)
    verified = await stub.VerifySkill(
        verify(member, "medical", "110101201903A", expires), metadata=hood.staff
    )
    medical = next(s for s in verified.member.skills if s.skill == "medical")
    assert medical.verified and medical.certificate_number == "110101201903A"
    await tasks_know(tasks_rt, member, proven=frozenset({"medical"}))
    await until(lambda: matching_sees({"errands", "medical"}))
    await task_stub.ClaimTask(tasks_pb2.ClaimTaskRequest(task_id=task.id), metadata=md)


async def test_expiry_reminds_a_month_ahead_then_ends_the_verification(
    stub,
    registry: ServiceRuntime,
    tasks_rt: ServiceRuntime,
    clock: MovableClock,
    hood: Neighbourhood,
    nats_client: NatsClient,
) -> None:  # type: ignore[no-untyped-def]
    member = await staff_registered(stub, hood, (("driving", 2),))
    expires = (datetime.now(UTC) + timedelta(days=45)).replace(microsecond=0)
    await stub.VerifySkill(verify(member, "driving", "C1-3701-88", expires), metadata=hood.staff)
    await tasks_know(tasks_rt, member, proven=frozenset({"driving"}))
    sweep = registry.registry.sweep_certificates  # type: ignore[attr-defined]
    js = nats_client.jetstream()

    def about(kind: type) -> Any:
        def match(env: events_pb2.EventEnvelope) -> bool:
            payload = kind()
            env.payload.Unpack(payload)
            return payload.member_id == member  # type: ignore[attr-defined,no-any-return]

        return match

    try:
        clock.offset = timedelta(days=20)
        await sweep()
        await sweep()  # a second sweep reminds nobody twice
        (reminder,) = await wait_for_events(
            js, "linli.registry.certificate.expiring", about(events_pb2.CertificateExpiring), 1
        )
        expiring = events_pb2.CertificateExpiring()
        reminder.payload.Unpack(expiring)
        assert (expiring.skill, expiring.community_id) == ("driving", hood.home)
        still = await stub.GetMember(R.GetMemberRequest(id=member), metadata=hood.staff)
        assert next(s for s in still.member.skills if s.skill == "driving").verified

        clock.offset = timedelta(days=46)
        await sweep()
        (ended,) = await wait_for_events(
            js, "linli.registry.skill.unverified", about(events_pb2.SkillVerificationChanged), 1
        )
        change = events_pb2.SkillVerificationChanged()
        ended.payload.Unpack(change)
        assert (change.skill, change.verified, change.reason) == ("driving", False, "expired")
    finally:
        clock.offset = timedelta()
    after = await stub.GetMember(R.GetMemberRequest(id=member), metadata=hood.staff)
    driving = next(s for s in after.member.skills if s.skill == "driving")
    assert not driving.verified and driving.certificate_number == ""
    await tasks_know(tasks_rt, member, proven=frozenset())
    reminders = await wait_for_events(
        js, "linli.registry.certificate.expiring", about(events_pb2.CertificateExpiring), 1
    )
    assert len(reminders) == 1


async def test_the_certificate_number_reaches_only_the_member_and_their_communitys_staff(
    stub, settings: RegistrySettings, hood: Neighbourhood, nats_client: NatsClient
) -> None:  # type: ignore[no-untyped-def]
    member = await staff_registered(stub, hood, (("legal_advice", 3),))
    expires = datetime.now(UTC) + timedelta(days=300)
    await stub.VerifySkill(
        verify(member, "legal_advice", "13701201910123456", expires), metadata=hood.staff
    )

    def number(m: R.Member) -> str:
        return next(s for s in m.skills if s.skill == "legal_advice").certificate_number

    for md in (hood.as_member(member), hood.staff, hood.street_admin, hood.admin):
        got = await stub.GetMember(R.GetMemberRequest(id=member), metadata=md)
        assert number(got.member) == "13701201910123456"
    other = await staff_registered(stub, hood, (("tutoring", 1),))
    for md in (hood.as_member(other), hood.other_staff):
        got_code, _ = await outcome(stub.GetMember(R.GetMemberRequest(id=member), metadata=md))
        assert got_code == grpc.StatusCode.NOT_FOUND
        listed = await stub.ListMembers(R.ListMembersRequest(skill="legal_advice"), metadata=md)
        assert member not in {m.id for m in listed.members}
    # Events go to every consuming service: they say the skill is verified, never the number.
    updates = await wait_for_events(
        nats_client.jetstream(),
        "linli.registry.member.updated",
        lambda env: _carries(env, events_pb2.MemberUpdated, member),
        1,
    )
    for env in updates:
        payload = events_pb2.MemberUpdated()
        env.payload.Unpack(payload)
        skill = next(s for s in payload.member.skills if s.skill == "legal_advice")
        assert skill.verified and skill.certificate_number == ""


async def test_bad_certificates_are_refused_by_field(stub, hood: Neighbourhood) -> None:  # type: ignore[no-untyped-def]
    member = await staff_registered(stub, hood, (("medical", 1),))
    past = datetime.now(UTC) - timedelta(days=1)
    got, err = await outcome(
        stub.VerifySkill(verify(member, "tutoring", "", past), metadata=hood.staff)
    )
    assert got == grpc.StatusCode.INVALID_ARGUMENT
    assert set(bad_request_fields(err)) == {"skill", "certificate_number", "expire_time"}
    got, _ = await outcome(
        stub.VerifySkill(
            verify(member, "driving", "C1", datetime.now(UTC) + timedelta(days=9)),
            metadata=hood.staff,
        )
    )
    assert got == grpc.StatusCode.FAILED_PRECONDITION


async def test_a_withdrawn_certificate_releases_the_places_that_needed_it(
    stub, task_stub, tasks_rt: ServiceRuntime, hood: Neighbourhood
) -> None:  # type: ignore[no-untyped-def]
    member = await staff_registered(stub, hood, (("driving", 2), ("errands", 2)))
    md = hood.as_member(member)
    expires = datetime.now(UTC) + timedelta(days=200)
    await stub.VerifySkill(verify(member, "driving", "C1-3701-99", expires), metadata=hood.staff)
    await tasks_know(tasks_rt, member, proven=frozenset({"driving"}))
    ride = await post(
        task_stub, hood.staff, wish(hood.home, skills=("driving",), title="接送老人复诊")
    )
    errand = await post(task_stub, hood.staff, wish(hood.home, start=soon(5)))
    for t in (ride, errand):
        await task_stub.ClaimTask(tasks_pb2.ClaimTaskRequest(task_id=t.id), metadata=md)

    await stub.WithdrawSkillVerification(
        R.WithdrawSkillVerificationRequest(member_id=member, skill="driving", reason="驾照吊销"),
        metadata=hood.staff,
    )

    async def states() -> dict[str, int]:
        held = await task_stub.ListAssignments(
            tasks_pb2.ListAssignmentsRequest(member_id=member), metadata=hood.staff
        )
        return {a.task_id: a.state for a in held.assignments}

    async def released() -> bool:
        return (await states()).get(ride.id) == tasks_pb2.ASSIGNMENT_STATE_WITHDRAWN

    await until(released)
    assert (await states())[errand.id] == tasks_pb2.ASSIGNMENT_STATE_ACCEPTED
