"""What the matching service publishes and consumes."""

from __future__ import annotations

from services.common.eventbus import subject

SERVICE = "matching"
PROPOSAL_MADE = subject(SERVICE, "proposal", "made")

# Consumed: the registry's communities and members, and everything the task service says about
# tasks, assignments and rejected proposals.
CONSUMED = [
    "linli.registry.community.created",
    "linli.registry.member.>",
    "linli.tasks.task.>",
    "linli.tasks.assignment.>",
    "linli.tasks.proposal.rejected",
]
