"""What the notifications service consumes: everything the registry, the task service and the
points service publish, matching's proposals and the identity service's accounts. It publishes
nothing of its own: what it makes goes to inboxes and channels."""

from __future__ import annotations

from services.common import subjects
from services.common.subjects import NOTIFICATIONS as SERVICE

__all__ = ["CONSUMED", "SERVICE"]

CONSUMED = [
    subjects.REGISTRY_EVENTS,
    subjects.ALL_TASK_SERVICE_EVENTS,
    subjects.PROPOSAL_EVENTS,
    subjects.POINTS_EVENTS,
    subjects.ACCOUNT_EVENTS,
]
