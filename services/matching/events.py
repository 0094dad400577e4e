"""What the matching service publishes and consumes."""

from __future__ import annotations

from services.common import subjects
from services.common.subjects import MATCHING as SERVICE
from services.common.subjects import PROPOSAL_MADE

__all__ = ["CONSUMED", "PROPOSAL_MADE", "SERVICE"]

# Consumed: the registry's communities and members, and everything the task service says about
# tasks, assignments and rejected proposals.
CONSUMED = [
    subjects.COMMUNITY_CREATED,
    subjects.MEMBER_EVENTS,
    subjects.TASK_EVENTS,
    subjects.ASSIGNMENT_EVENTS,
    subjects.PROPOSAL_REJECTED,
]
