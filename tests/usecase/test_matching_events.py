"""The read model on the in-memory store, fed through the handler table: what a completed task
leaves behind for the member's month."""

from __future__ import annotations

from linli.v1 import events_pb2, tasks_pb2
from services.common.protoconv import ts
from tests.usecase.matching_support import NOW, proposed_once, ref


async def test_a_completed_task_counts_its_hours_against_the_members_month() -> None:
    d, task_id, first = await proposed_once()
    t = tasks_pb2.Task()
    t.CopyFrom(d.tasks[task_id])
    t.status = tasks_pb2.TASK_STATUS_COMPLETED
    t.update_time.CopyFrom(ts(d.version()))
    done = tasks_pb2.Assignment(
        id=ref(),
        task_id=task_id,
        member_id=first.member_id,
        state=tasks_pb2.ASSIGNMENT_STATE_COMPLETED,
        match_run_id=first.match_run_id,
        hours=7.5,
        update_time=ts(d.version()),
    )
    await d.feed("linli.tasks.task.completed", events_pb2.TaskCompleted(task=t, assignments=[done]))

    world = d.matching.world
    assert world.assignments[done.id].state == "completed"
    assert world.assignments[done.id].hours == 7.5
    assert world.tasks[task_id].status == "completed" and world.pending == {}
    member = world.solver_member(world.members[first.member_id], NOW)
    assert member.load_hours == 7.5 and member.hours_left == 0.5
