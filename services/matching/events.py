"""What the matching service publishes and consumes: the one place its payloads are built."""

from __future__ import annotations

from linli.v1 import events_pb2
from services.common import subjects
from services.common.subjects import MATCHING as SERVICE
from services.common.subjects import PROPOSAL_MADE

__all__ = ["CONSUMED", "CONSUMED_STANDBY", "PROPOSAL_MADE", "SERVICE", "Proposal", "proposal_made"]

# Consumed: the registry's communities and members, and everything the task service says about
# tasks, assignments and rejected proposals.
CONSUMED = [
    subjects.COMMUNITY_CREATED,
    subjects.MEMBER_EVENTS,
    subjects.TASK_EVENTS,
    subjects.ASSIGNMENT_EVENTS,
    subjects.PROPOSAL_REJECTED,
]
# In a durable consumer of their own: the one above keeps its subjects as they were.
CONSUMED_STANDBY = [subjects.STANDBY_EVENTS]

# An event to publish: (subject, payload).
Proposal = tuple[str, events_pb2.ProposalMade]


def proposal_made(
    run_id: str,
    task_id: str,
    member_id: str,
    rank: int,
    why: str,
    standby: bool = False,
    reoffer: bool = False,
) -> Proposal:
    """A member proposed for a place, by a run (or a re-offer on that run's behalf), or offered
    a freed place from the task's standby list."""
    return PROPOSAL_MADE, events_pb2.ProposalMade(
        match_run_id=run_id,
        task_id=task_id,
        member_id=member_id,
        rank=rank,
        explanation=why,
        standby=standby,
        reoffer=reoffer,
    )
