"""Check-in and hours over the real task service: codes that rotate, members checking in at the
place, hours proposed from check-in and check-out, confirmed, corrected and asked for."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from grpc import aio
from nats.aio.client import Client as NatsClient

from linli.v1 import attendance_pb2 as pb
from linli.v1 import attendance_pb2_grpc, common_pb2, events_pb2, tasks_pb2
from services.common import metrics
from services.common.runtime import ServiceRuntime
from services.common.settings import RegistrySettings
from tests.integration.cli_support import linli, where
from tests.integration.conftest import MovableClock, code
from tests.integration.errors import bad_request_fields
from tests.integration.events import wait_for_events
from tests.integration.tasks_support import (
    Neighbourhood,
    make_neighbourhood,
    post,
    soon,
    window,
    wish,
)
from tests.support import request_id

pytestmark = pytest.mark.integration

PLACE = (36.9805, 117.1705)  # where tasks_support's wishes are
IN, OUT = pb.CHECK_IN_PURPOSE_CHECK_IN, pb.CHECK_IN_PURPOSE_CHECK_OUT
CODE_AND_PLACE = events_pb2.HOURS_EVIDENCE_CODE_AND_PLACE
CODE_ONLY = events_pb2.HOURS_EVIDENCE_CODE_ONLY
STAFF_WORD = events_pb2.HOURS_EVIDENCE_STAFF_WORD


@pytest.fixture(scope="module")
async def att(tasks_rt: ServiceRuntime) -> AsyncIterator[attendance_pb2_grpc.AttendanceServiceStub]:
    async with aio.insecure_channel(f"127.0.0.1:{tasks_rt.port}") as ch:
        yield attendance_pb2_grpc.AttendanceServiceStub(ch)


@pytest.fixture
async def hood(stub, tasks_rt: ServiceRuntime, settings: RegistrySettings) -> Neighbourhood:  # type: ignore[no-untyped-def]
    return await make_neighbourhood(stub, tasks_rt, settings, members=4, outsiders=1)


@contextmanager
def at(clock: MovableClock, when: datetime) -> Iterator[None]:
    """The services' time is `when` (then moves on with the real time) inside the block."""
    clock.offset = when - datetime.now(UTC)
    try:
        yield
    finally:
        clock.offset = timedelta()


def north(metres: float) -> common_pb2.LatLng:
    return common_pb2.LatLng(latitude=PLACE[0] + metres / 111_195, longitude=PLACE[1])


async def task_with(task_stub, hood: Neighbourhood, members: list[str], start: datetime):  # type: ignore[no-untyped-def]
    task = await post(
        task_stub, hood.staff, wish(hood.home, start=start, headcount=len(members) + 1)
    )
    for m in members:
        await task_stub.ClaimTask(
            tasks_pb2.ClaimTaskRequest(task_id=task.id), metadata=hood.as_member(m)
        )
    return task


async def get_code(
    att, hood: Neighbourhood, task_id: str, purpose: int = IN
) -> pb.GetCheckInCodeResponse:  # type: ignore[no-untyped-def]
    return await att.GetCheckInCode(
        pb.GetCheckInCodeRequest(task_id=task_id, purpose=purpose), metadata=hood.staff
    )  # type: ignore[no-any-return]


async def refusal(call) -> aio.AioRpcError:  # type: ignore[no-untyped-def]
    with pytest.raises(aio.AioRpcError) as err:
        await call
    return err.value


def reason_of(err: aio.AioRpcError) -> str:
    from google.rpc import error_details_pb2, status_pb2

    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            for d in status_pb2.Status.FromString(value).details:
                info = error_details_pb2.ErrorInfo()
                if d.Unpack(info):
                    return info.reason
    return ""


async def test_members_at_the_place_check_in_and_out_and_staff_confirm_their_hours(
    att,
    task_stub,
    hood: Neighbourhood,
    clock: MovableClock,
    nats_client: NatsClient,  # type: ignore[no-untyped-def]
) -> None:
    start = soon(1)
    came, forgot = hood.members[0], hood.members[1]
    task = await task_with(task_stub, hood, [came, forgot], start)
    with at(clock, start - timedelta(minutes=10)):
        shown = await get_code(att, hood, task.id)
        assert shown.qr_text.endswith(shown.code) and "<svg" in shown.qr_svg
        assert 30 <= shown.step_seconds <= 60
        req = pb.CheckInRequest(task_id=task.id, code=shown.code, location=north(120))
        first = (await att.CheckIn(req, metadata=hood.as_member(came))).attendance
        again = (await att.CheckIn(req, metadata=hood.as_member(came))).attendance
    assert first.evidence == CODE_AND_PLACE and first.member_id == came
    assert again == first  # a repeat answers what the first did
    with at(clock, start + timedelta(minutes=100)):
        out_code = await get_code(att, hood, task.id, OUT)
        await att.CheckOut(
            pb.CheckOutRequest(task_id=task.id, code=out_code.code, location=north(30)),
            metadata=hood.as_member(came),
        )
        await task_stub.CompleteTask(
            tasks_pb2.CompleteTaskRequest(
                id=task.id,
                feedback=tasks_pb2.Feedback(score=5),
                outcomes=[
                    tasks_pb2.AssignmentOutcome(member_id=came, hours=2),
                    tasks_pb2.AssignmentOutcome(member_id=forgot, hours=2),
                ],
            ),
            metadata=hood.staff,
        )
        proposals = (
            await att.ListHoursProposals(
                pb.ListHoursProposalsRequest(task_id=task.id), metadata=hood.staff
            )
        ).proposals
        assert [(p.member_id, p.minutes, p.evidence) for p in proposals] == [
            (came, 100, CODE_AND_PLACE)
        ]
        bad = await refusal(
            att.ConfirmHours(
                pb.ConfirmHoursRequest(
                    task_id=task.id, decisions=[pb.HoursDecision(member_id=forgot)]
                ),
                metadata=hood.staff,
            )
        )
        assert bad_request_fields(bad).keys() == {"decisions[0].minutes"}
        records = (
            await att.ConfirmHours(
                pb.ConfirmHoursRequest(
                    task_id=task.id,
                    decisions=[
                        pb.HoursDecision(member_id=came),
                        pb.HoursDecision(member_id=forgot, minutes=90, reason="按签到表"),
                    ],
                ),
                metadata=hood.staff,
            )
        ).records
        record = await task_stub.GetMemberRecord(
            tasks_pb2.GetMemberRecordRequest(member_id=came), metadata=hood.as_member(came)
        )
    assert [(r.member_id, r.minutes, r.evidence) for r in records] == [
        (came, 100, CODE_AND_PLACE),
        (forgot, 90, STAFF_WORD),
    ]
    # The member's record sums confirmed hours (100 minutes), not completion's word (2 h).
    assert abs(record.record.hours_total - 100 / 60) < 1e-9

    def ours(env: events_pb2.EventEnvelope) -> bool:
        e = events_pb2.HoursConfirmed()
        return env.payload.Unpack(e) and e.task_id == task.id

    seen = await wait_for_events(nats_client.jetstream(), "linli.tasks.hours.confirmed", ours, 2)
    payloads = []
    for env in seen:
        e = events_pb2.HoursConfirmed()
        env.payload.Unpack(e)
        payloads.append(e)
    mine = next(e for e in payloads if e.member_id == came)
    assert (mine.community_id, mine.street_id, mine.category) == (hood.home, hood.street, "elderly")
    assert (mine.minutes, mine.scheduled_minutes, mine.evidence) == (100, 120, CODE_AND_PLACE)
    assert mine.hard_to_fill  # taken a day before the start: within the alert horizon (48 h)


async def test_a_code_from_two_steps_ago_is_refused(
    att,
    task_stub,
    hood: Neighbourhood,
    clock: MovableClock,
    tasks_rt: ServiceRuntime,  # type: ignore[no-untyped-def]
) -> None:
    start = soon(1)
    member = hood.members[0]
    task = await task_with(task_stub, hood, [member], start)
    step = timedelta(seconds=tasks_rt.settings.attendance.step_s)  # type: ignore[attr-defined]
    with at(clock, start - timedelta(minutes=20)):
        shown = await get_code(att, hood, task.id)
    with at(clock, start - timedelta(minutes=20) + 2 * step):
        err = await refusal(
            att.CheckIn(
                pb.CheckInRequest(task_id=task.id, code=shown.code, location=north(0)),
                metadata=hood.as_member(member),
            )
        )
    assert code(err) == grpc.StatusCode.FAILED_PRECONDITION and reason_of(err) == "CODE_NOT_CURRENT"


async def test_a_member_without_a_place_cannot_replay_a_code(
    att,
    task_stub,
    hood: Neighbourhood,
    clock: MovableClock,  # type: ignore[no-untyped-def]
) -> None:
    start = soon(1)
    holder, other = hood.members[0], hood.members[1]
    task = await task_with(task_stub, hood, [holder], start)
    with at(clock, start):
        shown = await get_code(att, hood, task.id)
        req = pb.CheckInRequest(task_id=task.id, code=shown.code, location=north(0))
        await att.CheckIn(req, metadata=hood.as_member(holder))
        err = await refusal(att.CheckIn(req, metadata=hood.as_member(other)))
        outsider = await refusal(att.CheckIn(req, metadata=hood.as_member(hood.outsiders[0])))
    assert code(err) == grpc.StatusCode.FAILED_PRECONDITION and reason_of(err) == "NO_PLACE_ON_TASK"
    # A member of another community is answered as for a task that does not exist.
    assert code(outsider) == grpc.StatusCode.PERMISSION_DENIED


async def test_far_away_is_refused_with_one_message_whatever_the_distance(
    att,
    task_stub,
    hood: Neighbourhood,
    clock: MovableClock,  # type: ignore[no-untyped-def]
) -> None:
    start = soon(1)
    member = hood.members[0]
    task = await task_with(task_stub, hood, [member], start)
    answers = set()
    labels = {"purpose": "check_in", "outcome": "NOT_AT_THE_PLACE"}
    before = metrics.REGISTRY.get_sample_value("linli_check_ins_total", labels) or 0
    with at(clock, start):
        shown = await get_code(att, hood, task.id)
        for metres in (260, 900, 4_000, 30_000):
            err = await refusal(
                att.CheckIn(
                    pb.CheckInRequest(task_id=task.id, code=shown.code, location=north(metres)),
                    metadata=hood.as_member(member),
                )
            )
            answers.add((code(err), err.details(), reason_of(err)))
    assert answers == {
        (
            grpc.StatusCode.FAILED_PRECONDITION,
            "you are not at the place of the task",
            "NOT_AT_THE_PLACE",
        )
    }
    # Counted by reason, for operators watching whether members manage to check in.
    assert metrics.REGISTRY.get_sample_value("linli_check_ins_total", labels) == before + 4


async def test_an_approximate_task_takes_the_code_alone(
    att,
    task_stub,
    hood: Neighbourhood,
    clock: MovableClock,  # type: ignore[no-untyped-def]
) -> None:
    start = soon(2)
    reply = await task_stub.CreateRole(
        tasks_pb2.CreateRoleRequest(
            request_id=request_id(),
            role=tasks_pb2.VolunteerRole(
                community_id=hood.home,
                title="党员奉献日：清理街道环境",
                beneficiary_group=common_pb2.BENEFICIARY_GROUP_OTHER,
                location=common_pb2.LatLng(latitude=PLACE[0], longitude=PLACE[1]),
                headcount=4,
                effort_hours=1,
                street_wide=True,
                once=tasks_pb2.OneOffSchedule(window=window(start, hours=2)),
            ),
        ),
        metadata=hood.street_admin,
    )
    listed = await task_stub.ListTasks(
        tasks_pb2.ListTasksRequest(community_id=hood.home), metadata=hood.staff
    )
    (task,) = [t for t in listed.tasks if t.source_id == reply.role.id]
    member = hood.members[0]
    await task_stub.ClaimTask(
        tasks_pb2.ClaimTaskRequest(task_id=task.id), metadata=hood.as_member(member)
    )
    with at(clock, start):
        shown = await get_code(att, hood, task.id)
        done = await att.CheckIn(
            pb.CheckInRequest(task_id=task.id, code=shown.code), metadata=hood.as_member(member)
        )
    assert done.attendance.evidence == CODE_ONLY


async def test_confirmed_hours_are_corrected_by_a_new_record_and_the_history_is_kept(
    att,
    task_stub,
    hood: Neighbourhood,
    clock: MovableClock,  # type: ignore[no-untyped-def]
) -> None:
    start = soon(1)
    member = hood.members[0]
    task = await task_with(task_stub, hood, [member], start)
    with at(clock, start + timedelta(hours=3)):
        await task_stub.CompleteTask(
            tasks_pb2.CompleteTaskRequest(
                id=task.id,
                feedback=tasks_pb2.Feedback(score=4),
                outcomes=[tasks_pb2.AssignmentOutcome(member_id=member, hours=2)],
            ),
            metadata=hood.staff,
        )
        (first,) = (
            await att.ConfirmHours(
                pb.ConfirmHoursRequest(
                    task_id=task.id, decisions=[pb.HoursDecision(member_id=member, minutes=120)]
                ),
                metadata=hood.staff,
            )
        ).records
        bad = await refusal(
            att.CorrectHours(
                pb.CorrectHoursRequest(record_id=first.id, minutes=60), metadata=hood.staff
            )
        )
        assert "reason" in bad_request_fields(bad)
        fixed = (
            await att.CorrectHours(
                pb.CorrectHoursRequest(record_id=first.id, minutes=60, reason="只待了一小时"),
                metadata=hood.staff,
            )
        ).record
        again = await refusal(
            att.CorrectHours(
                pb.CorrectHoursRequest(record_id=first.id, minutes=30, reason="x"),
                metadata=hood.staff,
            )
        )
        record = await task_stub.GetMemberRecord(
            tasks_pb2.GetMemberRecordRequest(member_id=member), metadata=hood.staff
        )
    assert fixed.supersedes_record_id == first.id and fixed.evidence == STAFF_WORD
    assert code(again) == grpc.StatusCode.FAILED_PRECONDITION  # superseded: correct the new one
    assert record.record.hours_total == 1.0
    history = (
        await att.ListHoursRecords(pb.ListHoursRecordsRequest(), metadata=hood.as_member(member))
    ).records
    assert [(r.id, r.state) for r in history] == [
        (fixed.id, pb.HOURS_RECORD_STATE_CONFIRMED),
        (first.id, pb.HOURS_RECORD_STATE_SUPERSEDED),
    ]
    staff_view = (
        await att.ListHoursRecords(pb.ListHoursRecordsRequest(task_id=task.id), metadata=hood.staff)
    ).records
    assert {r.id for r in staff_view} == {first.id, fixed.id}
    foreign = (
        await att.ListHoursRecords(
            pb.ListHoursRecordsRequest(task_id=task.id), metadata=hood.other_staff
        )
    ).records
    assert foreign == []
    denied = await refusal(
        att.ListHoursRecords(
            pb.ListHoursRecordsRequest(member_id=member), metadata=hood.as_member(hood.members[1])
        )
    )
    assert code(denied) == grpc.StatusCode.PERMISSION_DENIED


async def test_a_member_asks_for_hours_and_staff_approve_or_refuse(
    att,
    task_stub,
    hood: Neighbourhood,
    clock: MovableClock,
    nats_client: NatsClient,  # type: ignore[no-untyped-def]
) -> None:
    start = soon(1)
    yes, no = hood.members[0], hood.members[1]
    task = await task_with(task_stub, hood, [yes, no], start)
    with at(clock, start + timedelta(hours=3)):
        asked = {
            m: (
                await att.RequestHours(
                    pb.RequestHoursRequest(
                        task_id=task.id, minutes=90, reason="手机没电，未能签到"
                    ),
                    metadata=hood.as_member(m),
                )
            ).record
            for m in (yes, no)
        }
        member_may_not = await refusal(
            att.ApproveHoursRequest(
                pb.ApproveHoursRequestRequest(record_id=asked[yes].id), metadata=hood.as_member(yes)
            )
        )
        foreign = await refusal(
            att.ApproveHoursRequest(
                pb.ApproveHoursRequestRequest(record_id=asked[yes].id), metadata=hood.other_staff
            )
        )
        approved = (
            await att.ApproveHoursRequest(
                pb.ApproveHoursRequestRequest(record_id=asked[yes].id), metadata=hood.staff
            )
        ).record
        refused = (
            await att.RefuseHoursRequest(
                pb.RefuseHoursRequestRequest(record_id=asked[no].id, reason="当天未见到本人"),
                metadata=hood.staff,
            )
        ).record
    assert asked[yes].state == pb.HOURS_RECORD_STATE_REQUESTED
    assert code(member_may_not) == grpc.StatusCode.PERMISSION_DENIED
    assert code(foreign) == grpc.StatusCode.PERMISSION_DENIED
    assert (approved.state, approved.minutes, approved.evidence) == (
        pb.HOURS_RECORD_STATE_CONFIRMED,
        90,
        STAFF_WORD,
    )
    assert (refused.state, refused.reason) == (pb.HOURS_RECORD_STATE_REFUSED, "当天未见到本人")
    js = nats_client.jetstream()

    def about(kind: type, record_id: str):  # type: ignore[no-untyped-def]
        def match(env: events_pb2.EventEnvelope) -> bool:
            e = kind()
            return env.payload.Unpack(e) and e.record_id == record_id

        return match

    assert await wait_for_events(
        js, "linli.tasks.hours.requested", about(events_pb2.HoursRequested, asked[no].id), 1
    )
    assert await wait_for_events(
        js, "linli.tasks.hours.refused", about(events_pb2.HoursRefused, asked[no].id), 1
    )
    assert await wait_for_events(
        js, "linli.tasks.hours.confirmed", about(events_pb2.HoursConfirmed, asked[yes].id), 1
    )


async def test_another_communitys_staff_get_no_code_as_for_a_missing_task(
    att,
    task_stub,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    task = await task_with(task_stub, hood, [], soon(1))
    foreign = await refusal(
        att.GetCheckInCode(
            pb.GetCheckInCodeRequest(task_id=task.id, purpose=IN), metadata=hood.other_staff
        )
    )
    missing = await refusal(
        att.GetCheckInCode(
            pb.GetCheckInCodeRequest(task_id="00000000-0000-4000-8000-000000000000", purpose=IN),
            metadata=hood.other_staff,
        )
    )
    assert (code(foreign), foreign.details()) == (code(missing), missing.details())
    member = await refusal(
        att.GetCheckInCode(
            pb.GetCheckInCodeRequest(task_id=task.id, purpose=IN),
            metadata=hood.as_member(hood.members[0]),
        )
    )
    assert code(member) == grpc.StatusCode.PERMISSION_DENIED


async def test_bad_requests_name_their_fields(att, hood: Neighbourhood) -> None:  # type: ignore[no-untyped-def]
    for call, fields in (
        (
            att.GetCheckInCode(
                pb.GetCheckInCodeRequest(task_id="x", purpose=IN), metadata=hood.staff
            ),
            {"task_id"},
        ),
        (
            att.GetCheckInCode(
                pb.GetCheckInCodeRequest(task_id="00000000-0000-4000-8000-000000000000"),
                metadata=hood.staff,
            ),
            {"purpose"},
        ),
        (
            att.CheckIn(pb.CheckInRequest(code="A"), metadata=hood.as_member(hood.members[0])),
            {"task_id"},
        ),
        (
            att.CorrectHours(pb.CorrectHoursRequest(record_id="nope"), metadata=hood.staff),
            {"record_id"},
        ),
    ):
        err = await refusal(call)
        assert code(err) == grpc.StatusCode.INVALID_ARGUMENT
        assert fields <= set(bad_request_fields(err))


async def test_the_cli_shows_the_current_code_and_draws_its_qr_code(
    att,  # type: ignore[no-untyped-def]
    task_stub,
    hood: Neighbourhood,
    clock: MovableClock,
    registry: ServiceRuntime,
    tasks_rt: ServiceRuntime,
    matching_rt: ServiceRuntime,
) -> None:
    start = soon(1)
    member = hood.members[0]
    task = await task_with(task_stub, hood, [member], start)
    env = where(registry, tasks_rt, matching_rt) | {
        "LINLI_TOKEN": hood.staff[0][1].removeprefix("Bearer ")
    }
    with at(clock, start):
        status, out, err = await linli("--output", "json", "checkin-code", task.id, env=env)
        assert status == 0, err
        shown = json.loads(out)
        status, drawn, err = await linli("checkin-code", task.id, env=env)
        assert status == 0, err
        done = await att.CheckIn(
            pb.CheckInRequest(task_id=task.id, code=shown["code"], location=north(10)),
            metadata=hood.as_member(member),
        )
    assert done.attendance.evidence == CODE_AND_PLACE
    assert shown["qr_text"].endswith(shown["code"])
    assert "▀" in drawn or "▄" in drawn  # the QR code, in the terminal
