"""An item of the ledger (台账): a resident's concern, where it stands, and its history, which
only grows."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from services.common.checks import Violations, check_name, clean_text

SUMMARY_MAX = 500
NOTE_MAX = 2000
PLACE_MAX = 120
MINUTES_MAX = 8000
# Names of parties, units and departments.
NAME_MAX_PARTY = 80
# The account of deadlines and of events from other services in an item's history.
SYSTEM = "system"


class Category(StrEnum):
    HOUSING = "housing"  # housing and repairs
    ENVIRONMENT = "environment"  # environment and sanitation
    PARKING = "parking"  # parking and traffic
    SAFETY = "safety"
    NEIGHBOURS = "neighbours"  # neighbour disputes
    CARE = "care"  # services for the elderly, children, disabled and poor
    OTHER = "other"


class Urgency(StrEnum):
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class Stage(StrEnum):
    OPEN = "open"
    IN_COMMUNITY = "in_community"
    ESCALATED = "escalated"
    ROUTED = "routed"
    RESOLVED = "resolved"
    CLOSED = "closed"
    MERGED = "merged"

    @property
    def final(self) -> bool:
        return self in (Stage.CLOSED, Stage.MERGED)


class Source(StrEnum):
    GRID = "grid"
    BUILDING_GROUP = "building_group"
    VISIT = "visit"
    PHONE = "phone"
    HOTLINE = "hotline"


class HandlerKind(StrEnum):
    PAIRED_UNIT = "paired_unit"
    DEPARTMENT = "department"


class Answer(StrEnum):
    NONE = ""
    SATISFIED = "satisfied"
    NOT_SATISFIED = "not_satisfied"


PARTY_KINDS = frozenset(
    {"party_committee", "owners_committee", "residents", "property_company", "unit", "third_party"}
)


@dataclass(frozen=True)
class Contact:
    """Who raised the concern: personal data, shown only to those who handle the item."""

    name: str
    phone: str = ""
    on_behalf_by: str = ""


@dataclass(frozen=True)
class Handler:
    kind: HandlerKind
    name: str
    unit_id: str = ""
    subject: str = ""


@dataclass(frozen=True)
class Party:
    kind: str
    name: str


@dataclass(frozen=True)
class Consultation:
    parties: tuple[Party, ...]
    held_at: datetime
    minutes: str
    decision: str
    carried_by: str
    review: str


@dataclass(frozen=True)
class Entry:
    """One line of an item's history. `request_id` makes a retried move a no-op."""

    at: datetime
    actor: str
    action: str
    note: str
    stage: Stage
    request_id: str = ""


@dataclass(frozen=True)
class Item:
    id: str
    request_id: str
    created_by: str
    community_id: str
    street_id: str
    grid_id: str
    building_group_id: str
    summary: str
    category: Category
    urgency: Urgency
    place: str
    source: Source
    contact: Contact
    created_at: datetime
    stage: Stage = Stage.OPEN
    assignee: str = ""
    handler: Handler | None = None
    due_at: datetime | None = None
    overdue: bool = False
    ever_overdue: bool = False
    outcome: str = ""
    answer: Answer = Answer.NONE
    task_ids: tuple[str, ...] = ()
    merged_into: str = ""
    consultations: tuple[Consultation, ...] = ()
    closed_at: datetime | None = None
    escalated: bool = False
    reopened: int = 0
    history: tuple[Entry, ...] = field(default=())

    def with_entry(self, entry: Entry, **changes: object) -> Item:
        """The item after `changes`, its history one entry longer (never shorter)."""
        return replace(self, **changes, history=(*self.history, entry))  # type: ignore[arg-type]

    def applied(self, request_id: str) -> bool:
        """Whether a move with this request id was applied already (a retry)."""
        return bool(request_id) and any(e.request_id == request_id for e in self.history)


@dataclass(frozen=True)
class Draft:
    """What staff log: checked by `check_draft` before it becomes an item."""

    community_id: str
    grid_id: str
    building_group_id: str
    summary: str
    category: Category | None
    urgency: Urgency | None
    place: str
    source: str  # a Source's value, checked by check_draft
    contact: Contact


def check_text(v: Violations, name: str, value: str, limit: int, required: bool = True) -> str:
    value = clean_text(value)
    if required and not value:
        v.add(name, "must not be empty")
    elif len(value) > limit:
        v.add(name, f"must be at most {limit} characters (got {len(value)})")
    return value


def check_contact(v: Violations, contact: Contact, prefix: str = "contact.") -> Contact:
    name = check_name(v, f"{prefix}name", contact.name)
    phone = contact.phone.strip()
    if phone and not (len(phone) == 11 and phone.isdigit() and phone.startswith("1")):
        v.add(f"{prefix}phone", "must be a mainland mobile number of 11 digits, or empty")
    by = clean_text(contact.on_behalf_by)
    if by:
        by = check_name(v, f"{prefix}on_behalf_by", by)
    return Contact(name, phone, by)


def check_draft(d: Draft) -> Draft:
    v = Violations("item.")
    for name, value in (("community_id", d.community_id), ("grid_id", d.grid_id)):
        if not value.strip():
            v.add(name, "is required")
        elif len(value) > 64 or not value.isprintable():
            v.add(name, "must be 1 to 64 printable characters")
    if len(d.building_group_id) > 64 or not d.building_group_id.isprintable():
        v.add("building_group_id", "must be at most 64 printable characters")
    summary = check_text(v, "summary", d.summary, SUMMARY_MAX)
    place = check_text(v, "place", d.place, PLACE_MAX)
    if d.category is None:
        v.add("category", "is required")
    if d.urgency is None:
        v.add("urgency", "is required")
    if d.source not in {s.value for s in Source}:
        v.add("source", f"must be one of {', '.join(s.value for s in Source)}")
    contact = check_contact(v, d.contact)
    v.raise_if_any()
    return replace(
        d,
        community_id=d.community_id.strip(),
        grid_id=d.grid_id.strip(),
        summary=summary,
        place=place,
        contact=contact,
    )


def raise_item(
    draft: Draft,
    *,
    item_id: str,
    request_id: str,
    street_id: str,
    actor: str,
    now: datetime,
    due_at: datetime | None,
) -> Item:
    """A new item, OPEN, from a checked draft."""
    assert draft.category and draft.urgency
    entry = Entry(now, actor, "created", draft.summary, Stage.OPEN, request_id)
    return Item(
        id=item_id,
        request_id=request_id,
        created_by=actor,
        community_id=draft.community_id,
        street_id=street_id,
        grid_id=draft.grid_id,
        building_group_id=draft.building_group_id.strip(),
        summary=draft.summary,
        category=draft.category,
        urgency=draft.urgency,
        place=draft.place,
        source=Source(draft.source),
        contact=draft.contact,
        created_at=now,
        due_at=due_at,
        history=(entry,),
    )
