"""The demo's month counts what it says: a proposal the run planned that arrives late is not a
re-offer."""

from __future__ import annotations

from dev.month import reoffers
from linli.v1 import tasks_pb2


def proposal(task: str, member: str) -> tasks_pb2.Assignment:
    return tasks_pb2.Assignment(
        id=f"{task}-{member}",
        task_id=task,
        member_id=member,
        state=tasks_pb2.ASSIGNMENT_STATE_PROPOSED,
        source=tasks_pb2.ASSIGNMENT_SOURCE_MATCHING,
    )


def test_only_places_proposed_to_members_the_run_did_not_plan_are_re_offers() -> None:
    planned = {("t1", "m1"), ("t2", "m2"), ("t3", "m3")}
    fresh = [
        proposal("t2", "m2"),  # the run's own, late
        proposal("t1", "m9"),  # t1 offered to someone else after m1 declined
        proposal("t3", "m1"),  # m1 planned elsewhere, offered t3 after m3 let it expire
    ]
    assert reoffers(fresh, planned) == 2
    assert reoffers([], planned) == 0
    assert reoffers([proposal("t1", "m1")], planned) == 0
