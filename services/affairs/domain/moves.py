"""The moves of an item between stages: each takes the item and returns it after the move, one
history entry longer, or refuses with MoveRefused naming the stage. The stage diagram is in
protos/linli/v1/affairs.proto."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from services.affairs.domain.deadlines import DeadlineTable, refresh_due
from services.affairs.domain.errors import MoveRefused
from services.affairs.domain.items import (
    MINUTES_MAX,
    NAME_MAX_PARTY,
    NOTE_MAX,
    PARTY_KINDS,
    SYSTEM,
    Answer,
    Consultation,
    Entry,
    Handler,
    Item,
    Party,
    Stage,
    check_text,
)
from services.common.checks import Violations, check_name

# Where each move may start.
IN_COMMUNITY_HANDS = frozenset({Stage.OPEN, Stage.IN_COMMUNITY})
AT_STREET = frozenset({Stage.ESCALATED, Stage.ROUTED})
NOT_FINAL = frozenset(s for s in Stage if not s.final)
ALLOWED: dict[str, frozenset[Stage]] = {
    "edit": NOT_FINAL,
    "assign": IN_COMMUNITY_HANDS,
    "link": IN_COMMUNITY_HANDS,
    "resolve": IN_COMMUNITY_HANDS | AT_STREET,
    "escalate": IN_COMMUNITY_HANDS,
    "route": AT_STREET,
    "return": AT_STREET,
    "merge": IN_COMMUNITY_HANDS | AT_STREET,
    "merge_into": AT_STREET,
    "consult": NOT_FINAL - {Stage.RESOLVED},
    "answer": frozenset({Stage.RESOLVED}),
}
TASK_ID_MAX = 64


@dataclass(frozen=True)
class Act:
    """Who moves the item, when, and the request id that makes a retry a no-op."""

    actor: str
    now: datetime
    request_id: str
    deadlines: DeadlineTable


def _allow(item: Item, move: str) -> None:
    if item.stage not in ALLOWED[move]:
        raise MoveRefused(move, item.stage.value)


def _to(item: Item, act: Act, action: str, note: str, stage: Stage, **changes: object) -> Item:
    """The item in `stage` (a new time limit when the stage changes), with the entry."""
    moved = item.with_entry(
        Entry(act.now, act.actor, action, note, stage, act.request_id), stage=stage, **changes
    )
    return refresh_due(moved, act.deadlines, act.now) if stage != item.stage else moved


def assign(item: Item, act: Act, assignee: str) -> Item:
    v = Violations()
    assignee = check_name(v, "assignee", assignee, 64)
    v.raise_if_any()
    _allow(item, "assign")
    return _to(item, act, "assigned", assignee, Stage.IN_COMMUNITY, assignee=assignee)


def link_task(item: Item, act: Act, task_id: str) -> Item:
    v = Violations()
    task_id = check_name(v, "task_id", task_id, TASK_ID_MAX)
    v.raise_if_any()
    _allow(item, "link")
    if task_id in item.task_ids:
        raise MoveRefused("link", item.stage.value, "the task is linked already")
    return _to(item, act, "linked", task_id, Stage.IN_COMMUNITY, task_ids=(*item.task_ids, task_id))


def task_completed(item: Item, now: datetime, task_id: str, note: str) -> Item | None:
    """Evidence from the task service: a linked task was done. Recorded once, whatever the
    item's stage; None when it is not linked or recorded already."""
    if task_id not in item.task_ids:
        return None
    key = f"task:{task_id}"
    if item.applied(key):
        return None
    return item.with_entry(Entry(now, SYSTEM, "task_completed", note, item.stage, key))


def resolve(item: Item, act: Act, outcome: str) -> Item:
    v = Violations()
    outcome = check_text(v, "outcome", outcome, NOTE_MAX)
    v.raise_if_any()
    _allow(item, "resolve")
    return _to(item, act, "resolved", outcome, Stage.RESOLVED, outcome=outcome)


def escalate(item: Item, act: Act, reason: str) -> Item:
    v = Violations()
    reason = check_text(v, "reason", reason, NOTE_MAX)
    v.raise_if_any()
    _allow(item, "escalate")
    return _to(item, act, "escalated", reason, Stage.ESCALATED, escalated=True)


def route(item: Item, act: Act, handler: Handler, due_at: datetime | None, note: str) -> Item:
    v = Violations()
    name = check_name(v, "handler.name", handler.name, 80)
    if handler.unit_id and len(handler.unit_id) > 64:
        v.add("handler.unit_id", "must be at most 64 characters")
    if handler.subject and len(handler.subject) > 128:
        v.add("handler.subject", "must be at most 128 characters")
    if due_at is not None and due_at <= act.now:
        v.add("due_time", "must lie in the future")
    note = check_text(v, "note", note, NOTE_MAX, required=False)
    v.raise_if_any()
    _allow(item, "route")
    handler = replace(handler, name=name)
    moved = item.with_entry(
        Entry(
            act.now,
            act.actor,
            "routed",
            f"{name}: {note}" if note else name,
            Stage.ROUTED,
            act.request_id,
        ),
        stage=Stage.ROUTED,
        handler=handler,
    )
    moved = refresh_due(moved, act.deadlines, act.now)
    # The street sets the unit's deadline when it routes; the settings' limit otherwise.
    return replace(moved, due_at=due_at) if due_at is not None else moved


def send_back(item: Item, act: Act, guidance: str) -> Item:
    v = Violations()
    guidance = check_text(v, "guidance", guidance, NOTE_MAX)
    v.raise_if_any()
    _allow(item, "return")
    return _to(item, act, "returned", guidance, Stage.IN_COMMUNITY, handler=None)


def merge(matter: Item, items: list[Item], act: Act, note: str) -> tuple[Item, list[Item]]:
    """Gathers `items` into `matter` (a street matter): each becomes MERGED, pointing at it."""
    v = Violations()
    note = check_text(v, "note", note, NOTE_MAX, required=False)
    if not items:
        v.add("item_ids", "must name at least one item")
    v.raise_if_any()
    _allow(matter, "merge_into")
    gathered = []
    for it in items:
        if it.id == matter.id:
            raise MoveRefused("merge", it.stage.value, "an item cannot be merged into itself")
        if it.street_id != matter.street_id:
            raise MoveRefused("merge", it.stage.value, "items of another street")
        _allow(it, "merge")
        gathered.append(
            _to(it, act, "merged", matter.id, Stage.MERGED, merged_into=matter.id, escalated=True)
        )
    ids = ", ".join(i.id for i in items)
    entry = Entry(
        act.now, act.actor, "merged_in", f"{ids}. {note}".strip(), matter.stage, act.request_id
    )
    return matter.with_entry(entry), gathered


def consult(item: Item, act: Act, c: Consultation) -> Item:
    v = Violations("consultation.")
    if not c.parties:
        v.add("parties", "must name who took part")
    parties = []
    for i, p in enumerate(c.parties):
        if p.kind not in PARTY_KINDS:
            v.add(f"parties[{i}].kind", f"must be one of {', '.join(sorted(PARTY_KINDS))}")
        parties.append(Party(p.kind, check_name(v, f"parties[{i}].name", p.name, NAME_MAX_PARTY)))
    if parties and not any(p.kind == "third_party" for p in parties):
        # 1+X+1: the last 1 is the third party's review.
        v.add("parties", "must include a third party, who reviews the decision")
    if c.held_at > act.now:
        v.add("held_time", "must not lie in the future")
    minutes = check_text(v, "minutes", c.minutes, MINUTES_MAX)
    decision = check_text(v, "decision", c.decision, NOTE_MAX)
    carried_by = check_name(v, "carried_by", c.carried_by, NAME_MAX_PARTY)
    review = check_text(v, "review", c.review, NOTE_MAX)
    v.raise_if_any()
    _allow(item, "consult")
    kept = Consultation(tuple(parties), c.held_at, minutes, decision, carried_by, review)
    return item.with_entry(
        Entry(act.now, act.actor, "consulted", decision, item.stage, act.request_id),
        consultations=(*item.consultations, kept),
    )


def answer(item: Item, act: Act, given: Answer, note: str) -> Item:
    """The resident's answer: satisfied closes the item (销号); not satisfied reopens it at the
    level that resolved it."""
    v = Violations()
    if given is Answer.NONE:
        v.add("answer", "must be satisfied or not satisfied")
    note = check_text(v, "note", note, NOTE_MAX, required=False)
    v.raise_if_any()
    _allow(item, "answer")
    if given is Answer.SATISFIED:
        return _to(item, act, "closed", note, Stage.CLOSED, answer=given, closed_at=act.now)
    back = Stage.ROUTED if item.handler is not None else Stage.IN_COMMUNITY
    return _to(
        item, act, "reopened", note, back, answer=given, outcome="", reopened=item.reopened + 1
    )


def edit(item: Item, act: Act, edited: Item, fields: list[str]) -> Item:
    """The fields named changed to `edited`'s (already checked)."""
    _allow(item, "edit")
    changes = {f: getattr(edited, f) for f in fields}
    moved = item.with_entry(
        Entry(act.now, act.actor, "edited", ", ".join(fields), item.stage, act.request_id),
        **changes,
    )
    if "category" in fields or "urgency" in fields:
        # A new category or urgency re-reckons the current stage's limit from its start.
        start = item.created_at
        for e in reversed(item.history):
            if e.stage != item.stage:
                break
            start = e.at
        due = act.deadlines.due(item.stage, moved.category, moved.urgency, start)
        if item.handler is None or item.stage is not Stage.ROUTED:
            moved = replace(moved, due_at=due)
    return moved
