"""A member's data in the in-memory task store, for their export, and the free text their
erasure removes: as the PostgreSQL store does it (store/erasure.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from linli.v1 import events_pb2
from services.tasks import events
from services.tasks.domain import Assignment, Feedback, MemberView
from services.tasks.domain.hours import HoursRecord


class MemoryErasure:
    members: dict[str, MemberView]
    assignments: dict[str, Assignment]
    feedback: dict[str, Feedback]
    hours_records: dict[str, HoursRecord]
    outbox: list[events.Event]

    async def member_copy(self, member_id: str) -> dict[str, Any] | None:
        # This store keeps of a member only what its rules read.
        view = self.members.get(member_id)
        if view is None:
            return None
        return {
            "community_id": view.community_id,
            "street_id": view.street_id,
            "active": view.active,
            "reported_in": view.reported_in,
        }

    async def feedback_on(self, task_ids: list[str]) -> dict[str, Feedback]:
        return {t: self.feedback[t] for t in task_ids if t in self.feedback}

    async def forget_member_text(self, conn: Any, member_id: str) -> None:
        for key, a in list(self.assignments.items()):
            if a.member_id == member_id and a.reason:
                self.assignments[key] = replace(a, reason="")
        for key, r in list(self.hours_records.items()):
            if r.member_id == member_id and r.reason:
                self.hours_records[key] = replace(r, reason="")
        for _subject, payload in self.outbox:
            if (
                isinstance(payload, events_pb2.AssignmentChanged)
                and payload.assignment.member_id == member_id
            ):
                payload.assignment.reason = ""
