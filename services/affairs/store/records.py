"""Rows <-> domain values for the affairs service's tables: an item's columns and its `data`,
and its history's entries."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from services.affairs.domain.items import (
    Answer,
    Category,
    Consultation,
    Contact,
    Entry,
    Handler,
    HandlerKind,
    Item,
    Party,
    Source,
    Stage,
    Urgency,
)

Row = Mapping[str, Any]

ITEM_COLUMNS = (
    "id, request_id, created_by, community_id, street_id, grid_id, category, stage, overdue,"
    " handler_subject, created_at, due_at, contact_name, contact_phone, contact_by, data"
)


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _data(i: Item) -> dict[str, Any]:
    h = i.handler
    return {
        "building_group_id": i.building_group_id,
        "summary": i.summary,
        "urgency": i.urgency.value,
        "place": i.place,
        "source": i.source.value,
        "assignee": i.assignee,
        "handler": None
        if h is None
        else {"kind": h.kind.value, "name": h.name, "unit_id": h.unit_id, "subject": h.subject},
        "ever_overdue": i.ever_overdue,
        "outcome": i.outcome,
        "answer": i.answer.value,
        "task_ids": list(i.task_ids),
        "merged_into": i.merged_into,
        "consultations": [
            {
                "parties": [[p.kind, p.name] for p in c.parties],
                "held_at": c.held_at.isoformat(),
                "minutes": c.minutes,
                "decision": c.decision,
                "carried_by": c.carried_by,
                "review": c.review,
            }
            for c in i.consultations
        ],
        "closed_at": i.closed_at.isoformat() if i.closed_at else None,
        "escalated": i.escalated,
        "reopened": i.reopened,
    }


def item_args(i: Item) -> tuple[Any, ...]:
    return (
        uuid.UUID(i.id),
        i.request_id,
        i.created_by,
        i.community_id,
        i.street_id,
        i.grid_id,
        i.category.value,
        i.stage.value,
        i.overdue,
        i.handler.subject if i.handler else "",
        i.created_at,
        i.due_at,
        i.contact.name,
        i.contact.phone,
        i.contact.on_behalf_by,
        json.dumps(_data(i), ensure_ascii=False),
    )


def item(r: Row, entries: Sequence[Row] = ()) -> Item:
    d = json.loads(r["data"]) if isinstance(r["data"], str) else r["data"]
    h = d["handler"]
    return Item(
        id=str(r["id"]),
        request_id=r["request_id"],
        created_by=r["created_by"],
        community_id=r["community_id"],
        street_id=r["street_id"],
        grid_id=r["grid_id"],
        building_group_id=d["building_group_id"],
        summary=d["summary"],
        category=Category(r["category"]),
        urgency=Urgency(d["urgency"]),
        place=d["place"],
        source=Source(d["source"]),
        contact=Contact(r["contact_name"], r["contact_phone"], r["contact_by"]),
        created_at=r["created_at"],
        stage=Stage(r["stage"]),
        assignee=d["assignee"],
        handler=None
        if h is None
        else Handler(HandlerKind(h["kind"]), h["name"], h["unit_id"], h["subject"]),
        due_at=r["due_at"],
        overdue=r["overdue"],
        ever_overdue=d["ever_overdue"],
        outcome=d["outcome"],
        answer=Answer(d["answer"]),
        task_ids=tuple(d["task_ids"]),
        merged_into=d["merged_into"],
        consultations=tuple(
            Consultation(
                parties=tuple(Party(k, n) for k, n in c["parties"]),
                held_at=datetime.fromisoformat(c["held_at"]),
                minutes=c["minutes"],
                decision=c["decision"],
                carried_by=c["carried_by"],
                review=c["review"],
            )
            for c in d["consultations"]
        ),
        closed_at=_time(d["closed_at"]),
        escalated=d["escalated"],
        reopened=d["reopened"],
        history=tuple(entry(e) for e in entries),
    )


def entry(r: Row) -> Entry:
    return Entry(r["at"], r["actor"], r["action"], r["note"], Stage(r["stage"]), r["request_id"])


def entry_args(item_id: str, seq: int, e: Entry) -> tuple[Any, ...]:
    return (uuid.UUID(item_id), seq, e.at, e.actor, e.action, e.note, e.stage.value, e.request_id)


def check_append_only(before: Item, after: Item) -> None:
    """A change may only add to the history: both stores refuse anything else alike."""
    if after.history[: len(before.history)] != before.history:
        raise RuntimeError("the history of an item is append-only")
