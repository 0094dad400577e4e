"""The small wish: a resident's need that staff post, which becomes one task."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from services.common.checks import Violations
from services.common.settings import Bounds
from services.common.values import Beneficiary, LatLng, TimeWindow
from services.tasks.domain.checks import (
    ADDRESS_MAX,
    POSTING_REACH,
    check_common,
    check_community,
    check_team,
    check_text,
    check_window,
)
from services.tasks.domain.task import RequiredSkill, Task, TaskDraft, TaskKind, new_task


@dataclass(frozen=True)
class WishDraft:
    community_id: str
    title: str
    description: str
    beneficiary: Beneficiary | None
    location: LatLng | None
    address: str
    skills: tuple[RequiredSkill, ...]
    headcount: int
    window: TimeWindow | None
    effort_hours: float
    # The skills are asked of the team together (say, one drives, one gives first aid).
    team: bool = False
    # Never above 0: a wish serves one resident and is never over-booked (kept so that asking
    # is refused on its field rather than ignored).
    overbook_cap: int = 0


@dataclass(frozen=True)
class Wish:
    id: str
    draft: WishDraft
    task_id: str
    created_at: datetime


def validate_wish(
    draft: WishDraft, now: datetime, bounds: Bounds, reach: timedelta = POSTING_REACH
) -> WishDraft:
    v = Violations("wish.")
    title, description = check_common(v, draft, bounds)
    address = check_text(v, "address", draft.address, ADDRESS_MAX)
    window = check_window(v, "window", draft.window, now, draft.effort_hours, reach)
    check_community(v, draft.community_id)
    check_team(v, draft.team, draft.skills, draft.headcount)
    if draft.overbook_cap:
        v.add("overbook_cap", "a wish serves one resident and is never over-booked")
    v.raise_if_any()
    return replace(draft, title=title, description=description, address=address, window=window)


def post_wish(
    draft: WishDraft, street_id: str, now: datetime, wish_id: str, task_id: str
) -> tuple[Wish, Task]:
    """A validated wish, posted: the wish and its one task, open."""
    assert draft.window is not None and draft.location is not None and draft.beneficiary
    task = new_task(
        TaskDraft(
            kind=TaskKind.WISH,
            source_id=wish_id,
            community_id=draft.community_id,
            street_id=street_id,
            street_wide=False,
            title=draft.title,
            description=draft.description,
            beneficiary=draft.beneficiary,
            location=draft.location,
            address=draft.address,
            skills=draft.skills,
            headcount=draft.headcount,
            window=draft.window,
            effort_hours=draft.effort_hours,
            team=draft.team,
        ),
        now,
        task_id,
    )
    return Wish(wish_id, draft, task_id, now), task
