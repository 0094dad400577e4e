"""Proto <-> domain for the affairs service's messages."""

from __future__ import annotations

from linli.v1 import affairs_pb2 as pb
from services.affairs.domain.items import (
    Answer,
    Category,
    Consultation,
    Contact,
    Draft,
    Entry,
    Handler,
    HandlerKind,
    Item,
    Party,
    Stage,
    Urgency,
)
from services.affairs.domain.ledger import Figures
from services.common.errors import invalid
from services.common.protoconv import enum_words, time_from_proto, ts

_CATEGORY = enum_words(pb.ItemCategory.DESCRIPTOR, "ITEM_CATEGORY_")
_URGENCY = enum_words(pb.ItemUrgency.DESCRIPTOR, "ITEM_URGENCY_")
_STAGE = enum_words(pb.ItemStage.DESCRIPTOR, "ITEM_STAGE_")
_HANDLER = enum_words(pb.HandlerKind.DESCRIPTOR, "HANDLER_KIND_")
_ANSWER = enum_words(pb.ResidentAnswer.DESCRIPTOR, "RESIDENT_ANSWER_")
CATEGORY_TO_PROTO = {Category(w): pb.ItemCategory.ValueType(n) for n, w in _CATEGORY.items()}
URGENCY_TO_PROTO = {Urgency(w): pb.ItemUrgency.ValueType(n) for n, w in _URGENCY.items()}
STAGE_TO_PROTO = {Stage(w): pb.ItemStage.ValueType(n) for n, w in _STAGE.items()}
HANDLER_TO_PROTO = {HandlerKind(w): pb.HandlerKind.ValueType(n) for n, w in _HANDLER.items()}
ANSWER_TO_PROTO = {Answer(w): pb.ResidentAnswer.ValueType(n) for n, w in _ANSWER.items()}


def category(n: int, field: str = "item.category") -> Category | None:
    if n == 0:
        return None
    if n not in _CATEGORY:
        raise invalid(field, "is not a known category")
    return Category(_CATEGORY[n])


def urgency(n: int) -> Urgency | None:
    if n == 0:
        return None
    if n not in _URGENCY:
        raise invalid("item.urgency", "is not a known urgency")
    return Urgency(_URGENCY[n])


def stage(n: int) -> Stage | None:
    if n == 0:
        return None
    if n not in _STAGE:
        raise invalid("stage", "is not a known stage")
    return Stage(_STAGE[n])


def answer(n: int) -> Answer:
    if n and n not in _ANSWER:
        raise invalid("answer", "is not a known answer")
    return Answer(_ANSWER[n]) if n else Answer.NONE


def contact_from_proto(c: pb.Contact) -> Contact:
    return Contact(c.name, c.phone, c.on_behalf_by)


def draft_from_proto(i: pb.Item) -> Draft:
    return Draft(
        community_id=i.community_id,
        grid_id=i.grid_id,
        building_group_id=i.building_group_id,
        summary=i.summary,
        category=category(i.category),
        urgency=urgency(i.urgency),
        place=i.place,
        source=i.source,
        contact=contact_from_proto(i.contact),
    )


def handler_from_proto(h: pb.Handler) -> Handler:
    if h.kind not in _HANDLER:
        raise invalid("handler.kind", "must be a paired unit or a department")
    return Handler(HandlerKind(_HANDLER[h.kind]), h.name, h.unit_id, h.subject)


def consultation_from_proto(c: pb.Consultation) -> Consultation:
    if not c.HasField("held_time"):
        raise invalid("consultation.held_time", "is required")
    return Consultation(
        parties=tuple(Party(p.kind, p.name) for p in c.parties),
        held_at=time_from_proto(c.held_time),
        minutes=c.minutes,
        decision=c.decision,
        carried_by=c.carried_by,
        review=c.review,
    )


def consultation_to_proto(c: Consultation) -> pb.Consultation:
    return pb.Consultation(
        parties=[pb.ConsultationParty(kind=p.kind, name=p.name) for p in c.parties],
        held_time=ts(c.held_at),
        minutes=c.minutes,
        decision=c.decision,
        carried_by=c.carried_by,
        review=c.review,
    )


def entry_to_proto(e: Entry) -> pb.ItemEntry:
    return pb.ItemEntry(
        time=ts(e.at), actor=e.actor, action=e.action, note=e.note, stage=STAGE_TO_PROTO[e.stage]
    )


def item_to_proto(
    i: Item, *, masked: bool = False, contact: bool = True, history: bool = True
) -> pb.Item:
    """The item as a message; without its contact (for events) or its history (for lists)."""
    msg = pb.Item(
        id=i.id,
        community_id=i.community_id,
        street_id=i.street_id,
        grid_id=i.grid_id,
        building_group_id=i.building_group_id,
        summary=i.summary,
        category=CATEGORY_TO_PROTO[i.category],
        urgency=URGENCY_TO_PROTO[i.urgency],
        place=i.place,
        stage=STAGE_TO_PROTO[i.stage],
        assignee=i.assignee,
        due_time=ts(i.due_at),
        overdue=i.overdue,
        ever_overdue=i.ever_overdue,
        outcome=i.outcome,
        answer=ANSWER_TO_PROTO.get(i.answer, pb.RESIDENT_ANSWER_UNSPECIFIED),
        task_ids=list(i.task_ids),
        merged_into=i.merged_into,
        consultations=[consultation_to_proto(c) for c in i.consultations],
        create_time=ts(i.created_at),
        close_time=ts(i.closed_at),
        escalated=i.escalated,
        reopened=i.reopened,
        source=i.source.value,
    )
    if contact:
        msg.contact.CopyFrom(
            pb.Contact(
                name=i.contact.name,
                phone=i.contact.phone,
                on_behalf_by=i.contact.on_behalf_by,
                masked=masked,
            )
        )
    if i.handler is not None:
        msg.handler.CopyFrom(
            pb.Handler(
                kind=HANDLER_TO_PROTO[i.handler.kind],
                name=i.handler.name,
                unit_id=i.handler.unit_id,
                subject=i.handler.subject,
            )
        )
    if history:
        msg.history.extend(entry_to_proto(e) for e in i.history)
    return msg


def figures_to_proto(f: Figures) -> pb.LedgerFigures:
    return pb.LedgerFigures(
        scope_id=f.scope_id,
        street_id=f.street_id,
        raised=f.raised,
        solved_in_community=f.solved_in_community,
        escalated=f.escalated,
        solved_in_street=f.solved_in_street,
        overdue=f.overdue,
        satisfaction_rate=f.satisfaction_rate,
        median_days_to_close=f.median_days_to_close,
        closed=f.closed,
    )
