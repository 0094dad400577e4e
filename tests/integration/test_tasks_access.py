"""Who may do what in the task service: the whole matrix of callers against every change, with
task ids outside a caller's scope answering PERMISSION_DENIED whether or not they exist."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest
from grpc import aio

from linli.v1 import common_pb2, tasks_pb2
from services.common.auth import Role
from services.common.runtime import ServiceRuntime
from services.common.settings import RegistrySettings
from tests.integration.tasks_support import (
    Neighbourhood,
    make_neighbourhood,
    post,
    soon,
    window,
    wish,
)
from tests.support import auth, ref, token

pytestmark = pytest.mark.integration
OK, DENIED = grpc.StatusCode.OK, grpc.StatusCode.PERMISSION_DENIED
MISSING = "00000000-0000-0000-0000-000000000000"


@pytest.fixture(scope="module")
async def hood(stub, tasks_rt: ServiceRuntime, settings: RegistrySettings) -> Neighbourhood:  # type: ignore[no-untyped-def]
    return await make_neighbourhood(stub, tasks_rt, settings, members=4, outsiders=1)


def callers(h: Neighbourhood, settings: RegistrySettings) -> dict[str, Any]:
    return {
        "staff": h.staff,
        "other_staff": h.other_staff,
        "street_admin": h.street_admin,
        "other_street_admin": auth(token(settings, Role.STREET_ADMIN, "far", streets=(ref("st"),))),
        "district_admin": h.admin,
        "service": h.service,
        "member": h.as_member(h.members[0]),
        "outsider": h.as_member(h.outsiders[0]),
    }


async def status(call: Awaitable[Any]) -> grpc.StatusCode:
    try:
        await call
    except aio.AioRpcError as e:
        return e.code()
    return OK


# caller -> expected status when managing (get is separate) a task of `home`
MANAGE = {
    "staff": OK,
    "other_staff": DENIED,
    "street_admin": OK,
    "other_street_admin": DENIED,
    "district_admin": OK,
    "service": OK,
    "member": DENIED,
    "outsider": DENIED,
}
SEE = {**MANAGE, "member": OK}  # members see their own community's tasks


@pytest.mark.parametrize("who", list(MANAGE))
async def test_posting_a_wish(
    task_stub,
    hood: Neighbourhood,
    settings: RegistrySettings,  # type: ignore[no-untyped-def]
    who: str,
) -> None:
    md = callers(hood, settings)[who]
    got = await status(
        task_stub.PostWish(
            tasks_pb2.PostWishRequest(request_id=ref("r"), wish=wish(hood.home)), metadata=md
        )
    )
    assert got == MANAGE[who]


@pytest.mark.parametrize("who", list(SEE))
async def test_seeing_a_task(
    task_stub,
    hood: Neighbourhood,
    settings: RegistrySettings,  # type: ignore[no-untyped-def]
    who: str,
) -> None:
    task = await post(task_stub, hood.staff, wish(hood.home))
    md = callers(hood, settings)[who]
    assert (
        await status(task_stub.GetTask(tasks_pb2.GetTaskRequest(id=task.id), metadata=md))
        == SEE[who]
    )
    expected_missing = grpc.StatusCode.NOT_FOUND if who in ("district_admin", "service") else DENIED
    assert (
        await status(task_stub.GetTask(tasks_pb2.GetTaskRequest(id=MISSING), metadata=md))
        == expected_missing
    )


@pytest.mark.parametrize("who", list(MANAGE))
@pytest.mark.parametrize("action", ["cancel", "complete"])
async def test_changing_a_task(
    task_stub,
    hood: Neighbourhood,
    settings: RegistrySettings,  # type: ignore[no-untyped-def]
    who: str,
    action: str,
) -> None:
    task = await post(task_stub, hood.staff, wish(hood.home))
    md = callers(hood, settings)[who]
    calls: dict[str, Callable[[str], Awaitable[Any]]] = {
        "cancel": lambda t: task_stub.CancelTask(
            tasks_pb2.CancelTaskRequest(id=t, reason="测试"), metadata=md
        ),
        "complete": lambda t: task_stub.CompleteTask(
            tasks_pb2.CompleteTaskRequest(id=t, feedback=tasks_pb2.Feedback(score=5)), metadata=md
        ),
    }
    got = await status(calls[action](task.id))
    if MANAGE[who] == OK:
        # Allowed to try: completing a task nobody took is a precondition failure, not a denial.
        assert got in (OK, grpc.StatusCode.FAILED_PRECONDITION)
    else:
        assert got == DENIED
        assert await status(calls[action](MISSING)) == DENIED


@pytest.mark.parametrize(
    "who", ["staff", "street_admin", "district_admin", "other_staff", "outsider"]
)
async def test_claiming_is_for_members_as_themselves(
    task_stub,
    hood: Neighbourhood,
    settings: RegistrySettings,
    who: str,  # type: ignore[no-untyped-def]
) -> None:
    task = await post(task_stub, hood.staff, wish(hood.home, headcount=3))
    md = callers(hood, settings)[who]
    got = await status(
        task_stub.ClaimTask(
            tasks_pb2.ClaimTaskRequest(task_id=task.id, member_id=hood.members[1]), metadata=md
        )
    )
    assert got == DENIED


async def test_answers_and_withdrawals_are_the_members_own(
    task_stub,
    hood: Neighbourhood,
    settings: RegistrySettings,  # type: ignore[no-untyped-def]
) -> None:
    task = await post(task_stub, hood.staff, wish(hood.home, headcount=2))
    claimed = await task_stub.ClaimTask(
        tasks_pb2.ClaimTaskRequest(task_id=task.id), metadata=hood.as_member(hood.members[2])
    )
    aid = claimed.assignment.id
    for who in ("staff", "district_admin", "outsider"):
        md = callers(hood, settings)[who]
        for call in (
            task_stub.WithdrawAssignment(
                tasks_pb2.WithdrawAssignmentRequest(assignment_id=aid), metadata=md
            ),
            task_stub.AcceptProposal(
                tasks_pb2.AcceptProposalRequest(assignment_id=aid), metadata=md
            ),
            task_stub.DeclineProposal(
                tasks_pb2.DeclineProposalRequest(assignment_id=aid), metadata=md
            ),
        ):
            assert await status(call) == DENIED, who
    assert (
        await status(
            task_stub.WithdrawAssignment(
                tasks_pb2.WithdrawAssignmentRequest(assignment_id=aid),
                metadata=hood.as_member(hood.members[2]),
            )
        )
        == OK
    )


async def test_street_admins_list_roles_only_in_their_street(
    task_stub,
    hood: Neighbourhood,
    settings: RegistrySettings,  # type: ignore[no-untyped-def]
) -> None:
    md = callers(hood, settings)
    assert (
        await status(
            task_stub.ListRoles(
                tasks_pb2.ListRolesRequest(community_id=hood.home), metadata=md["street_admin"]
            )
        )
        == OK
    )
    assert (
        await status(
            task_stub.ListRoles(
                tasks_pb2.ListRolesRequest(community_id=hood.home),
                metadata=md["other_street_admin"],
            )
        )
        == DENIED
    )


async def answer(call: Awaitable[Any], *ids: str) -> tuple[grpc.StatusCode, str]:
    """The call's code and message, with the ids asked about blanked out."""
    try:
        await call
    except aio.AioRpcError as e:
        details = e.details() or ""
        for i in ids:
            details = details.replace(i, "<id>")
        return e.code(), details
    return OK, ""


async def test_a_foreign_object_and_a_missing_one_answer_alike_for_every_caller(
    task_stub,
    hood: Neighbourhood,
    settings: RegistrySettings,  # type: ignore[no-untyped-def]
) -> None:
    """For each caller refused an object of `home`, a missing id gets the same code and the same
    message: no answer tells whether an id exists outside one's scope."""
    task = await post(task_stub, hood.staff, wish(hood.home, headcount=3))
    claimed = await task_stub.ClaimTask(
        tasks_pb2.ClaimTaskRequest(task_id=task.id), metadata=hood.as_member(hood.members[0])
    )
    role = (
        await task_stub.CreateRole(
            tasks_pb2.CreateRoleRequest(
                request_id=ref("r"),
                role=tasks_pb2.VolunteerRole(
                    community_id=hood.home,
                    title="阅览室值守",
                    beneficiary_group=common_pb2.BENEFICIARY_GROUP_OTHER,
                    location=common_pb2.LatLng(latitude=36.9805, longitude=117.1705),
                    headcount=2,
                    effort_hours=2,
                    once=tasks_pb2.OneOffSchedule(window=window(soon(6), hours=3)),
                ),
            ),
            metadata=hood.staff,
        )
    ).role
    missing_community = ref("c")
    by_id: dict[str, Callable[[str, Any], Awaitable[Any]]] = {
        "GetTask": lambda i, md: task_stub.GetTask(tasks_pb2.GetTaskRequest(id=i), metadata=md),
        "CancelTask": lambda i, md: task_stub.CancelTask(
            tasks_pb2.CancelTaskRequest(id=i, reason="测试"), metadata=md
        ),
        "CompleteTask": lambda i, md: task_stub.CompleteTask(
            tasks_pb2.CompleteTaskRequest(id=i, feedback=tasks_pb2.Feedback(score=5)), metadata=md
        ),
        "ClaimTask": lambda i, md: task_stub.ClaimTask(
            tasks_pb2.ClaimTaskRequest(task_id=i), metadata=md
        ),
        "ListAssignments(task)": lambda i, md: task_stub.ListAssignments(
            tasks_pb2.ListAssignmentsRequest(task_id=i), metadata=md
        ),
        "GetRole": lambda i, md: task_stub.GetRole(tasks_pb2.GetRoleRequest(id=i), metadata=md),
        "EndRole": lambda i, md: task_stub.EndRole(tasks_pb2.EndRoleRequest(id=i), metadata=md),
        "WithdrawAssignment": lambda i, md: task_stub.WithdrawAssignment(
            tasks_pb2.WithdrawAssignmentRequest(assignment_id=i), metadata=md
        ),
        "AcceptProposal": lambda i, md: task_stub.AcceptProposal(
            tasks_pb2.AcceptProposalRequest(assignment_id=i), metadata=md
        ),
        "DeclineProposal": lambda i, md: task_stub.DeclineProposal(
            tasks_pb2.DeclineProposalRequest(assignment_id=i), metadata=md
        ),
        "GetMemberRecord": lambda i, md: task_stub.GetMemberRecord(
            tasks_pb2.GetMemberRecordRequest(member_id=i), metadata=md
        ),
        "ListAssignments(member)": lambda i, md: task_stub.ListAssignments(
            tasks_pb2.ListAssignmentsRequest(member_id=i), metadata=md
        ),
        "PostWish": lambda i, md: task_stub.PostWish(
            tasks_pb2.PostWishRequest(request_id=ref("r"), wish=wish(i)), metadata=md
        ),
        "ListTasks": lambda i, md: task_stub.ListTasks(
            tasks_pb2.ListTasksRequest(community_id=i), metadata=md
        ),
        "ListRoles": lambda i, md: task_stub.ListRoles(
            tasks_pb2.ListRolesRequest(community_id=i), metadata=md
        ),
    }
    existing = {
        "GetTask": task.id,
        "CancelTask": task.id,
        "CompleteTask": task.id,
        "ClaimTask": task.id,
        "ListAssignments(task)": task.id,
        "GetRole": role.id,
        "EndRole": role.id,
        "WithdrawAssignment": claimed.assignment.id,
        "AcceptProposal": claimed.assignment.id,
        "DeclineProposal": claimed.assignment.id,
        "GetMemberRecord": hood.members[1],
        "ListAssignments(member)": hood.members[1],
        "PostWish": hood.home,
        "ListTasks": hood.home,
        "ListRoles": hood.home,
    }
    compared = 0
    for who, md in callers(hood, settings).items():
        # Read-only calls first, then those that might change the object for later callers.
        for rpc, call in by_id.items():
            if who in ("staff", "street_admin", "district_admin", "service") and rpc in (
                "CancelTask",
                "EndRole",
                "PostWish",
            ):
                continue  # entitled: the call would act; nothing to hide from them
            real_id = existing[rpc]
            gone = missing_community if rpc in ("PostWish", "ListTasks", "ListRoles") else MISSING
            seen = await answer(call(real_id, md), real_id)
            if seen[0] in (
                OK,
                grpc.StatusCode.FAILED_PRECONDITION,
                grpc.StatusCode.INVALID_ARGUMENT,
            ):
                continue  # entitled to see it exists
            assert await answer(call(gone, md), gone) == seen, (who, rpc)
            compared += 1
    assert compared > 40
