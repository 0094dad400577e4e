"""Staff's changes to a task before it starts: its time, place, text or headcount. Members
holding a place are told (TaskChanged); each change raises the task's revision (the calendar's
SEQUENCE)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from services.common.checks import Violations, check_location, check_name
from services.common.settings import Bounds
from services.common.values import LatLng, TimeWindow
from services.tasks.domain.change import Change, TaskChanged
from services.tasks.domain.checks import (
    ADDRESS_MAX,
    DESCRIPTION_MAX,
    HEADCOUNT_MAX,
    HEADCOUNT_MIN,
    POSTING_REACH,
    TITLE_MAX,
    check_text,
    check_window,
)
from services.tasks.domain.errors import task_state
from services.tasks.domain.task import TAKING_PLACES, Task, moved

# The paths of Task a staff change may name.
UPDATABLE = ("window", "location", "address", "title", "description", "headcount")


@dataclass(frozen=True)
class TaskPatch:
    """What the caller sent for each path; only the masked ones are read."""

    window: TimeWindow | None
    location: LatLng | None
    address: str
    title: str
    description: str
    headcount: int


def check_mask(v: Violations, paths: list[str]) -> tuple[str, ...]:
    """The mask's paths, once each, in their order; unknown ones named."""
    if not paths:
        v.add("update_mask", f"names no field (one or more of {', '.join(UPDATABLE)})")
    out: list[str] = []
    for i, p in enumerate(paths):
        if p not in UPDATABLE:
            v.add(f"update_mask.paths[{i}]", f"cannot be changed (only {', '.join(UPDATABLE)})")
        elif p not in out:
            out.append(p)
    return tuple(out)


def update_task(
    task: Task,
    patch: TaskPatch,
    paths: tuple[str, ...],
    reason: str,
    now: datetime,
    bounds: Bounds,
    reach: timedelta = POSTING_REACH,
) -> Change:
    """The task with the masked fields changed, or the violations named by field (`task.…`)."""
    if task.status not in TAKING_PLACES:
        raise task_state("change", task.status.value)
    if now >= task.window.claim_deadline:
        raise task_state("change", "started")
    v = Violations("task.")
    changed = task
    if "window" in paths:
        window = check_window(v, "window", patch.window, now, task.effort_hours, reach)
        if window is not None:
            changed = replace(changed, window=window)
    if "location" in paths:
        check_location(v, "location", patch.location, bounds)
        if patch.location is not None:
            changed = replace(changed, location=patch.location)
    if "address" in paths:
        changed = replace(changed, address=check_text(v, "address", patch.address, ADDRESS_MAX))
    if "title" in paths:
        changed = replace(changed, title=check_name(v, "title", patch.title, TITLE_MAX))
    if "description" in paths:
        text = check_text(v, "description", patch.description, DESCRIPTION_MAX)
        changed = replace(changed, description=text)
    if "headcount" in paths:
        n = patch.headcount
        if not HEADCOUNT_MIN <= n <= HEADCOUNT_MAX:
            v.add("headcount", f"must be {HEADCOUNT_MIN} to {HEADCOUNT_MAX} (got {n})")
        elif n + task.overbook_cap < task.places_taken or n < task.accepted:
            v.add("headcount", f"must not fall below the {task.places_taken} place(s) held")
        else:
            changed = moved(replace(changed, headcount=n))
    v.raise_if_any()
    if changed == task:
        return Change(task)
    changed = replace(changed, revision=task.revision + 1, updated_at=now)
    if "headcount" in paths and changed.headcount > task.headcount:
        # More places: the alert for empty ones may be due again.
        changed = replace(changed, empty_alerted_at=None)
    return Change(changed, (), (TaskChanged(changed, paths, reason),))
