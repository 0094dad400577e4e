"""Hours records: staff confirm a completed task's hours (the proposal from check-in and
check-out, or their own word), members ask for hours they did without checking in, and
confirmed hours are corrected by a new record that supersedes the old. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from services.common.checks import Violations
from services.common.errors import FailedPrecondition, NotFound
from services.tasks.domain.assignment import Assignment, AssignmentState
from services.tasks.domain.attendance import Attendance, Evidence, HoursProposal, Purpose, proposals
from services.tasks.domain.checks import HOURS_LOGGED_MAX, REASON_MAX, check_reason, check_text
from services.tasks.domain.errors import CHECKED_IN, HOURS_ALREADY_RECORDED, HOURS_STATE, task_state
from services.tasks.domain.task import Task, TaskStatus

MINUTES_MAX = int(HOURS_LOGGED_MAX * 60)
# Sources of a place that was hard to fill (a standby list's or a re-offer's), when recorded.
HARD_SOURCES = frozenset({"standby", "reoffer"})


class HoursState(StrEnum):
    REQUESTED = "requested"
    CONFIRMED = "confirmed"
    REFUSED = "refused"
    SUPERSEDED = "superseded"


# A member's current record of a task: at most one of these at a time.
CURRENT = frozenset({HoursState.REQUESTED, HoursState.CONFIRMED})


@dataclass(frozen=True)
class HoursRecord:
    id: str
    task_id: str
    member_id: str
    community_id: str
    street_id: str
    state: HoursState
    minutes: int
    evidence: Evidence
    reason: str
    supersedes: str
    category: str
    scheduled_minutes: int
    hard_to_fill: bool
    occurred_at: datetime
    created_at: datetime
    decided_at: datetime | None = None


@dataclass(frozen=True)
class HoursConfirmed:
    record: HoursRecord


@dataclass(frozen=True)
class HoursRequested:
    record: HoursRecord


@dataclass(frozen=True)
class HoursRefused:
    record: HoursRecord


HoursEvent = HoursConfirmed | HoursRequested | HoursRefused


@dataclass(frozen=True)
class HoursChange:
    """Records new (`created`) or changed, and the events that announce them."""

    written: tuple[HoursRecord, ...] = ()
    events: tuple[HoursEvent, ...] = ()
    created: frozenset[str] = field(default_factory=frozenset)
    # What the caller is answered, in the order asked.
    answer: tuple[HoursRecord, ...] = ()


@dataclass(frozen=True)
class Decision:
    member_id: str
    minutes: int | None
    reason: str


def hard_to_fill(task: Task, place: Assignment | None, horizon: timedelta) -> bool:
    """Taken within the alert horizon of the start, from the standby list, or by a re-offer."""
    if place is None:
        return False
    return place.created_at >= task.window.start - horizon or str(place.source) in HARD_SOURCES


def new_record(
    task: Task,
    member_id: str,
    state: HoursState,
    minutes: int,
    evidence: Evidence,
    reason: str,
    *,
    record_id: str,
    now: datetime,
    hard: bool,
    supersedes: str = "",
) -> HoursRecord:
    w = task.window
    return HoursRecord(
        id=record_id,
        task_id=task.id,
        member_id=member_id,
        community_id=task.community_id,
        street_id=task.street_id,
        state=state,
        minutes=minutes,
        evidence=evidence,
        reason=reason,
        supersedes=supersedes,
        category=task.beneficiary.value.lower(),
        scheduled_minutes=int((w.end - w.start).total_seconds() // 60),
        hard_to_fill=hard,
        occurred_at=w.start,
        created_at=now,
        decided_at=now if state is HoursState.CONFIRMED else None,
    )


def _minutes(v: Violations, name: str, minutes: int, least: int = 1) -> None:
    if not least <= minutes <= MINUTES_MAX:
        v.add(name, f"must be {least} to {MINUTES_MAX} minutes (got {minutes})")


def confirm(
    task: Task,
    decisions: Sequence[Decision],
    *,
    completed: Mapping[str, Assignment],
    proposals: Mapping[str, HoursProposal],
    current: Mapping[str, HoursRecord],
    ids: Sequence[str],
    now: datetime,
    horizon: timedelta,
) -> HoursChange:
    """Staff confirm a completed task's hours, per member: the proposal, or minutes of their own
    (a reason required when they differ from a proposal). A repeat of a confirmation answers the
    record it made."""
    if task.status is not TaskStatus.COMPLETED:
        raise task_state("confirm hours", task.status.value)
    v = Violations()
    if not decisions:
        v.add("decisions", "is required: one per member")
    seen: set[str] = set()
    reasons: list[str] = []
    for i, d in enumerate(decisions):
        name = f"decisions[{i}]"
        if d.member_id in seen:
            v.add(f"{name}.member_id", "is named twice")
        seen.add(d.member_id)
        if d.member_id not in completed:
            v.add(f"{name}.member_id", "did not complete this task")
        reasons.append(check_text(v, f"{name}.reason", d.reason, REASON_MAX))
        proposal = proposals.get(d.member_id)
        if d.minutes is None:
            if proposal is None:
                v.add(f"{name}.minutes", "is required: the member did not check in")
            continue
        _minutes(v, f"{name}.minutes", d.minutes)
        if proposal is not None and d.minutes != proposal.minutes and not reasons[-1]:
            v.add(f"{name}.reason", "is required when the minutes differ from the proposal")
    v.raise_if_any()
    written: list[HoursRecord] = []
    answer: list[HoursRecord] = []
    for d, reason, record_id in zip(decisions, reasons, ids, strict=False):
        proposal = proposals.get(d.member_id)
        minutes = d.minutes if d.minutes is not None else proposal.minutes  # type: ignore[union-attr]
        same = proposal is not None and minutes == proposal.minutes
        evidence = proposal.evidence if same and proposal else Evidence.STAFF_WORD
        found = current.get(d.member_id)
        if found is not None:
            if found.state is HoursState.CONFIRMED and found.minutes == minutes:
                answer.append(found)  # a repeat: what the first confirmation made
                continue
            raise FailedPrecondition(
                f"the member's hours for this task are already {found.state.value}: "
                + ("correct them" if found.state is HoursState.CONFIRMED else "decide the request"),
                HOURS_ALREADY_RECORDED,
                member_id=d.member_id,
            )
        record = new_record(
            task,
            d.member_id,
            HoursState.CONFIRMED,
            minutes,
            evidence,
            reason if not same else "",
            record_id=record_id,
            now=now,
            hard=hard_to_fill(task, completed[d.member_id], horizon),
        )
        written.append(record)
        answer.append(record)
    return HoursChange(
        tuple(written),
        tuple(HoursConfirmed(r) for r in written),
        frozenset(r.id for r in written),
        tuple(answer),
    )


REQUESTABLE = frozenset(
    {TaskStatus.OPEN, TaskStatus.FILLED, TaskStatus.CLOSED, TaskStatus.COMPLETED}
)


def request(
    task: Task,
    member_id: str,
    minutes: int,
    reason: str,
    *,
    checked_in: bool,
    current: HoursRecord | None,
    place: Assignment | None,
    record_id: str,
    now: datetime,
    horizon: timedelta,
) -> HoursChange:
    """A member asks for hours for a task they did without checking in, once it has started."""
    v = Violations()
    _minutes(v, "minutes", minutes)
    reason = check_text(v, "reason", reason, REASON_MAX)
    v.raise_if_any()
    if task.status not in REQUESTABLE or now < task.window.start:
        state = task.status.value if task.status not in REQUESTABLE else "not started yet"
        raise task_state("ask for hours", state)
    if checked_in:
        raise FailedPrecondition(
            "you checked in at this task: your hours come from your check-in", CHECKED_IN
        )
    if current is not None:
        if current.state is HoursState.REQUESTED and current.minutes == minutes:
            return HoursChange(answer=(current,))  # a repeat
        raise FailedPrecondition(
            f"your hours for this task are already {current.state.value}", HOURS_ALREADY_RECORDED
        )
    record = new_record(
        task,
        member_id,
        HoursState.REQUESTED,
        minutes,
        Evidence.STAFF_WORD,
        reason,
        record_id=record_id,
        now=now,
        hard=hard_to_fill(task, place, horizon),
    )
    return HoursChange((record,), (HoursRequested(record),), frozenset({record.id}), (record,))


def _require(record: HoursRecord, state: HoursState, action: str) -> None:
    if record.state is not state:
        raise FailedPrecondition(
            f"cannot {action}: the record is {record.state.value}",
            HOURS_STATE,
            state=record.state.value,
        )


def approve(record: HoursRecord, now: datetime) -> HoursChange:
    """Staff approve a member's request: confirmed on their word."""
    if record.state is HoursState.CONFIRMED and not record.supersedes:
        return HoursChange(answer=(record,))  # a repeat
    _require(record, HoursState.REQUESTED, "approve")
    done = replace(record, state=HoursState.CONFIRMED, decided_at=now)
    return HoursChange((done,), (HoursConfirmed(done),), answer=(done,))


def refuse(record: HoursRecord, reason: str, now: datetime) -> HoursChange:
    reason = check_reason(reason, required=True)
    if record.state is HoursState.REFUSED:
        return HoursChange(answer=(record,))  # a repeat
    _require(record, HoursState.REQUESTED, "refuse")
    done = replace(record, state=HoursState.REFUSED, reason=reason, decided_at=now)
    return HoursChange((done,), (HoursRefused(done),), answer=(done,))


def correct(
    record: HoursRecord, minutes: int, reason: str, *, record_id: str, now: datetime
) -> HoursChange:
    """Confirmed hours corrected later: a new record supersedes the old, which is kept."""
    v = Violations()
    _minutes(v, "minutes", minutes, least=0)
    reason = check_text(v, "reason", reason, REASON_MAX)
    if not reason:
        v.add("reason", "is required")
    v.raise_if_any()
    _require(record, HoursState.CONFIRMED, "correct")
    old = replace(record, state=HoursState.SUPERSEDED, decided_at=now)
    new = replace(
        record,
        id=record_id,
        state=HoursState.CONFIRMED,
        minutes=minutes,
        evidence=Evidence.STAFF_WORD,
        reason=reason,
        supersedes=record.id,
        created_at=now,
        decided_at=now,
    )
    return HoursChange((old, new), (HoursConfirmed(new),), frozenset({new.id}), (new,))


@dataclass(frozen=True)
class TaskHours:
    """What an hours decision on one task reads, loaded under the task's lock."""

    task: Task
    # Each member's latest assignment on the task.
    places: Mapping[str, Assignment]
    attendances: Sequence[Attendance]
    records: Sequence[HoursRecord]

    def current(self) -> dict[str, HoursRecord]:
        return {r.member_id: r for r in self.records if r.state in CURRENT}

    def completed(self) -> dict[str, Assignment]:
        return {m: a for m, a in self.places.items() if a.state is AssignmentState.COMPLETED}

    def proposals(self) -> dict[str, HoursProposal]:
        return proposals(self.task, set(self.completed()), list(self.attendances))

    def checked_in(self, member_id: str) -> bool:
        return any(
            a.member_id == member_id and a.purpose is Purpose.CHECK_IN for a in self.attendances
        )

    def record(self, record_id: str) -> HoursRecord:
        for r in self.records:
            if r.id == record_id:
                return r
        raise NotFound("hours record", record_id)
