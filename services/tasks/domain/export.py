"""What the task service holds about one member, gathered for their export."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.tasks.domain.assignment import Assignment
from services.tasks.domain.attendance import Attendance
from services.tasks.domain.change import Feedback
from services.tasks.domain.hours import HoursRecord
from services.tasks.domain.task import MemberRecord, Task


@dataclass(frozen=True)
class MemberExport:
    copy: dict[str, Any] | None  # the read model's row, as the registry's events told it
    record: MemberRecord
    assignments: list[Assignment]
    tasks: dict[str, Task]
    feedback: dict[str, Feedback]  # staff's feedback on tasks the member completed
    # Their check-ins and check-outs, and their hours records (history included).
    attendance: list[Attendance] = field(default_factory=list)
    hours: list[HoursRecord] = field(default_factory=list)
