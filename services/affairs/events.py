"""What the affairs service publishes and consumes: the one place its payloads are built. No
payload carries a resident's contact, nor an item's history."""

from __future__ import annotations

from google.protobuf import message

from linli.v1 import affairs_pb2, events_pb2
from services.affairs.convert import STAGE_TO_PROTO, item_to_proto
from services.affairs.domain.items import Item
from services.common import subjects
from services.common.protoconv import ts
from services.common.subjects import AFFAIRS as SERVICE
from services.common.subjects import ITEM_CLOSED, ITEM_MOVED, ITEM_OVERDUE, ITEM_RAISED

__all__ = ["CONSUMED", "SERVICE", "Event", "item_moved", "item_overdue", "item_raised"]

# Consumed: the registry's communities (the street of each decides a street administrator's
# ledger) and the task service's completions (evidence on the items they were posted for).
CONSUMED = [subjects.COMMUNITY_CREATED, subjects.TASK_COMPLETED]

# An event to publish: (subject, payload).
Event = tuple[str, message.Message]


def _bare(item: Item) -> affairs_pb2.Item:
    return item_to_proto(item, contact=False, history=False)


def item_raised(item: Item) -> Event:
    return ITEM_RAISED, events_pb2.ItemRaised(item=_bare(item))


def item_moved(item: Item) -> Event:
    """The item after its last move, named by the history's last entry."""
    action = item.history[-1].action
    subj = ITEM_CLOSED if action == "closed" else ITEM_MOVED
    return subj, events_pb2.ItemMoved(item=_bare(item), action=action)


def item_overdue(item: Item) -> Event:
    return ITEM_OVERDUE, events_pb2.ItemOverdue(
        item=_bare(item), stage=STAGE_TO_PROTO[item.stage], due_time=ts(item.due_at)
    )
