"""Reminders before each accepted task: one per configured offset, at `start - offset`; when
several are due at once (a place taken late) only the nearest goes out, and none for a time
already past when the place was taken. A moved task is reminded again at its new time."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Accepted:
    """An accepted place in the read model, with its task's current start."""

    assignment_id: str
    task_id: str
    member_id: str
    start: datetime
    accepted_at: datetime


@dataclass(frozen=True)
class Due:
    place: Accepted
    # The reminder to send (None: only offsets to pass over).
    offset_s: int | None
    # The offsets passed over (due too, but a nearer one goes out): recorded as done.
    skipped: tuple[int, ...] = ()


def key(place: Accepted, offset_s: int) -> str:
    """What makes a reminder once: the place, the offset and the start it was for."""
    return f"reminder:{place.assignment_id}:{offset_s}:{place.start.isoformat()}"


def due(
    place: Accepted, offsets: Sequence[float], now: datetime, done: Collection[int]
) -> Due | None:
    """The reminder of `place` to send now, if any (`done`: offsets already sent for its start)."""
    if now >= place.start:
        return None
    ripe = sorted(
        int(o)
        for o in offsets
        if int(o) not in done
        and place.start - timedelta(seconds=o) <= now
        and place.start - timedelta(seconds=o) >= place.accepted_at
    )
    late = sorted(
        int(o)
        for o in offsets
        if int(o) not in done and place.start - timedelta(seconds=o) < place.accepted_at
    )
    if not ripe:
        return Due(place, None, tuple(late)) if late else None
    return Due(place, ripe[0], tuple(ripe[1:]) + tuple(late))
