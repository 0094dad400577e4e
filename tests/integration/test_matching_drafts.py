"""Drafts through the matching service over real gRPC, PostgreSQL and NATS: a draft proposes
nobody, staff edit it and it is planned again, publishing turns its pairs into held places at
the task service; bad edits are refused naming the field."""

from __future__ import annotations

import grpc
import pytest

from linli.v1 import matching_pb2, tasks_pb2
from services.common.runtime import ServiceRuntime
from tests.integration.conftest import code
from tests.integration.tasks_support import Neighbourhood, until
from tests.integration.test_matching import assignments, hood, posted_and_seen

pytestmark = pytest.mark.integration
__all__ = ["hood"]  # the neighbourhood fixture, shared with the matching tests

PIN, REMOVE = matching_pb2.DRAFT_EDIT_ACTION_PIN, matching_pb2.DRAFT_EDIT_ACTION_REMOVE


async def planned(match_stub, hood: Neighbourhood, run_id: str) -> dict[str, set[str]]:  # type: ignore[no-untyped-def]
    reply = await match_stub.ListMatchAssignments(
        matching_pb2.ListMatchAssignmentsRequest(run_id=run_id, page_size=1000),
        metadata=hood.staff,
    )
    out: dict[str, set[str]] = {}
    for a in reply.assignments:
        out.setdefault(a.task_id, set()).add(a.member_id)
    return out


async def test_a_draft_is_reviewed_edited_and_published_into_held_places(
    task_stub,
    match_stub,
    matching_rt: ServiceRuntime,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    tasks = await posted_and_seen(task_stub, matching_rt, hood, 2)
    ids = {t.id for t in tasks}
    reply = await match_stub.RunMatching(
        matching_pb2.RunMatchingRequest(community_id=hood.home, time_limit_s=5, draft=True),
        metadata=hood.staff,
    )
    run = reply.run
    assert run.state == matching_pb2.MATCH_RUN_STATE_DRAFT and run.dry_run
    first = {t: m for t, m in (await planned(match_stub, hood, run.id)).items() if t in ids}
    assert set(first) == ids and all(len(m) == 1 for m in first.values())
    assert [await assignments(task_stub, hood, t) for t in sorted(ids)] == [[], []]

    # Staff take one member off the first task and pin another on the second.
    one, two = sorted(ids)
    (dropped,) = first[one]
    (had,) = first[two]
    pinned = next(m for m in hood.members if m not in (had, dropped))
    edited = await match_stub.EditDraft(
        matching_pb2.EditDraftRequest(
            run_id=run.id,
            edits=[
                matching_pb2.DraftEdit(task_id=one, member_id=dropped, action=REMOVE),
                matching_pb2.DraftEdit(task_id=two, member_id=pinned, action=PIN),
            ],
        ),
        metadata=hood.staff,
    )
    assert edited.run.state == matching_pb2.MATCH_RUN_STATE_DRAFT
    assert edited.run.pinned_pairs == 1 and edited.run.changed_pairs >= 2
    second = await planned(match_stub, hood, run.id)
    assert dropped not in second.get(one, set()) and second[two] == {pinned}
    shown = await match_stub.ListMatchAssignments(
        matching_pb2.ListMatchAssignmentsRequest(run_id=run.id, page_size=1000),
        metadata=hood.staff,
    )
    assert [a.pinned for a in shown.assignments if a.task_id == two] == [True]

    published = await match_stub.PublishDraft(
        matching_pb2.PublishDraftRequest(run_id=run.id), metadata=hood.staff
    )
    assert published.run.state == matching_pb2.MATCH_RUN_STATE_SUCCEEDED
    assert published.run.publish_time.seconds > 0 and published.run.publish_skipped == 0

    async def held() -> bool:
        got = {t: await assignments(task_stub, hood, t) for t in ids}
        return all(
            {a.member_id for a in got[t] if a.state == tasks_pb2.ASSIGNMENT_STATE_PROPOSED}
            == second[t]
            for t in ids
        )

    await until(held)
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await match_stub.PublishDraft(
            matching_pb2.PublishDraftRequest(run_id=run.id), metadata=hood.staff
        )
    assert code(e.value) == grpc.StatusCode.FAILED_PRECONDITION


async def test_a_replan_after_a_task_is_added_keeps_the_pairs_it_had(
    task_stub,
    match_stub,
    matching_rt: ServiceRuntime,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    await posted_and_seen(task_stub, matching_rt, hood, 2)
    run = (
        await match_stub.RunMatching(
            matching_pb2.RunMatchingRequest(community_id=hood.home, time_limit_s=5, draft=True),
            metadata=hood.staff,
        )
    ).run
    before = await planned(match_stub, hood, run.id)
    (added,) = await posted_and_seen(task_stub, matching_rt, hood, 1)

    edited = await match_stub.EditDraft(
        matching_pb2.EditDraftRequest(run_id=run.id), metadata=hood.staff
    )
    after = await planned(match_stub, hood, run.id)
    assert {t: after[t] for t in before} == before
    assert set(after) - set(before) == {added.id}
    assert edited.run.changed_pairs == len(after[added.id])


async def test_bad_draft_requests_are_refused_naming_the_field(
    match_stub,
    hood: Neighbourhood,  # type: ignore[no-untyped-def]
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await match_stub.RunMatching(
            matching_pb2.RunMatchingRequest(community_id=hood.home, draft=True, dry_run=True),
            metadata=hood.staff,
        )
    assert code(e.value) == grpc.StatusCode.INVALID_ARGUMENT and "draft" in str(e.value.details())
    run = (
        await match_stub.RunMatching(
            matching_pb2.RunMatchingRequest(community_id=hood.home, draft=True),
            metadata=hood.staff,
        )
    ).run
    for edit, field in (
        (matching_pb2.DraftEdit(task_id=run.id, member_id=run.id), "edits[0].action"),
        (matching_pb2.DraftEdit(task_id="x", member_id=run.id, action=PIN), "edits[0].task_id"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await match_stub.EditDraft(
                matching_pb2.EditDraftRequest(run_id=run.id, edits=[edit]), metadata=hood.staff
            )
        assert code(e.value) == grpc.StatusCode.INVALID_ARGUMENT
        assert field in str(e.value.trailing_metadata()) or field in str(e.value.details())
    # Another community's staff may not touch it; a member may not even ask.
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await match_stub.PublishDraft(
            matching_pb2.PublishDraftRequest(run_id=run.id), metadata=hood.other_staff
        )
    assert code(e.value) == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await match_stub.PublishDraft(
            matching_pb2.PublishDraftRequest(run_id=run.id),
            metadata=hood.as_member(hood.members[0]),
        )
    assert code(e.value) == grpc.StatusCode.PERMISSION_DENIED
