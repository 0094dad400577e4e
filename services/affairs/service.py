"""The affairs service's use cases: who may (the caller's role and scope against the item), then
the store and the domain's move."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from services.affairs import events
from services.affairs.domain import access, moves
from services.affairs.domain.deadlines import DeadlineTable, flag_overdue
from services.affairs.domain.errors import (
    CommunityUnknown,
    NotYours,
    RequestIdReused,
    item_not_found,
)
from services.affairs.domain.filters import ItemFilter
from services.affairs.domain.items import (
    Answer,
    Consultation,
    Draft,
    Handler,
    Item,
    Stage,
    check_contact,
    check_draft,
    check_text,
    raise_item,
)
from services.affairs.domain.ledger import Figures, ledger
from services.affairs.store import AffairsStore, Tx
from services.affairs.store.port import After
from services.common import audit
from services.common.auth import Principal
from services.common.checks import Violations, check_name, check_request_id, uuid_arg
from services.common.clock import Clock, system_clock
from services.common.errors import InvalidArgument, invalid

# The fields UpdateItem may change.
EDITABLE = ("summary", "category", "urgency", "place", "contact", "grid_id", "building_group_id")
# Items a sweep flags at most, and the figures read at most.
SWEEP_BATCH = 500
FIGURES_MAX = 200_000

Move = Callable[[Item, moves.Act], Item]


class Affairs:
    def __init__(
        self, store: AffairsStore, deadlines: DeadlineTable, clock: Clock = system_clock
    ) -> None:
        self.store = store
        self.deadlines = deadlines
        self.clock = clock

    # -- reading -----------------------------------------------------------------------------

    def shown(self, p: Principal, item: Item) -> tuple[Item, bool]:
        """The item as the caller sees it (its contact masked unless they handle it); a contact
        shown in full is noted in the audit log."""
        seen, masked = access.for_caller(p, item)
        if not masked and item.contact.phone:
            audit.note_reveal(task_id=f"item:{item.id}", revealed=(audit.PHONE,))
        return seen, masked

    async def _visible(self, p: Principal, item_id: str) -> Item:
        """The item, or NotFound alike for a missing one and one outside the caller's scope."""
        key = uuid_arg(item_id, "id")
        item = await self.store.item(key)
        if item is None or not access.sees(p, item):
            raise item_not_found(item_id)
        return item

    async def get(self, p: Principal, item_id: str) -> tuple[Item, bool]:
        return self.shown(p, await self._visible(p, item_id))

    async def list_items(
        self, p: Principal, asked: dict[str, object], after: After | None, limit: int
    ) -> list[tuple[Item, bool]]:
        f = ItemFilter.scope_of(p, **asked)
        return [self.shown(p, i) for i in await self.store.list_items(f, after, limit)]

    async def figures(
        self,
        p: Principal,
        street_id: str,
        start: datetime | None,
        end: datetime | None,
    ) -> tuple[list[Figures], list[Figures], Figures]:
        f = ItemFilter.scope_of(p, street_id=street_id, created_from=start, created_before=end)
        items = await self.store.list_items(f, None, FIGURES_MAX)
        return ledger(items)

    # -- logging an item ---------------------------------------------------------------------

    async def create(self, p: Principal, request_id: str, draft: Draft) -> tuple[Item, bool]:
        v = Violations()
        request_id = check_request_id(v, request_id)
        try:
            draft = check_draft(draft)
        except InvalidArgument as e:
            # Every bad field at once, the request id's too.
            raise InvalidArgument([*v.items, *e.violations]) from None
        v.raise_if_any()
        access.require_community_level(p, "log")
        street = await self.store.street_of(draft.community_id)
        if not p.holds(draft.community_id, street):
            # Outside the caller's scope: the community is not theirs to log for.
            raise invalid("item.community_id", "is not a community you serve")
        if street is None:
            raise CommunityUnknown(draft.community_id)
        now = self.clock()
        assert draft.category is not None and draft.urgency is not None
        item = raise_item(
            draft,
            item_id=str(uuid.uuid4()),
            request_id=request_id,
            street_id=street,
            actor=p.subject,
            now=now,
            due_at=self.deadlines.due(Stage.OPEN, draft.category, draft.urgency, now),
        )
        kept = await self.store.add_item(item, [events.item_raised(item)], p)
        if kept.id != item.id and (kept.created_by != p.subject or not access.sees(p, kept)):
            raise RequestIdReused()
        return self.shown(p, kept)

    # -- moves -------------------------------------------------------------------------------

    async def _move(
        self,
        p: Principal,
        item_id: str,
        request_id: str,
        move: Move,
        may: Callable[[Item], None],
    ) -> tuple[Item, bool]:
        v = Violations()
        request_id = check_request_id(v, request_id)
        v.raise_if_any()
        item = await self._visible(p, item_id)
        if item.applied(request_id):
            return self.shown(p, item)  # a retry: the item as the first call left it
        may(item)
        act = moves.Act(p.subject, self.clock(), request_id, self.deadlines)

        def change(current: Item) -> tuple[Item, list[events.Event]] | None:
            if current.applied(request_id):
                return None  # a retry: the item as the first call left it
            may(current)
            after = move(current, act)
            return after, [events.item_moved(after)]

        after = await self.store.update_item(item.id, change, p)
        if after is None:
            raise item_not_found(item_id)
        return self.shown(p, after)

    def _community(self, p: Principal, name: str) -> Callable[[Item], None]:
        return lambda item: access.require_community_level(p, name, item)

    def _street(self, p: Principal, name: str) -> Callable[[Item], None]:
        return lambda item: access.require_street_level(p, name, item)

    async def assign(
        self, p: Principal, item_id: str, rid: str, assignee: str
    ) -> tuple[Item, bool]:
        return await self._move(
            p, item_id, rid, lambda i, a: moves.assign(i, a, assignee), self._community(p, "assign")
        )

    async def link_task(
        self, p: Principal, item_id: str, rid: str, task_id: str
    ) -> tuple[Item, bool]:
        return await self._move(
            p, item_id, rid, lambda i, a: moves.link_task(i, a, task_id), self._community(p, "link")
        )

    async def resolve(
        self, p: Principal, item_id: str, rid: str, outcome: str
    ) -> tuple[Item, bool]:
        return await self._move(
            p,
            item_id,
            rid,
            lambda i, a: moves.resolve(i, a, outcome),
            lambda i: access.require_resolver(p, i),
        )

    async def escalate(
        self, p: Principal, item_id: str, rid: str, reason: str
    ) -> tuple[Item, bool]:
        return await self._move(
            p,
            item_id,
            rid,
            lambda i, a: moves.escalate(i, a, reason),
            self._community(p, "escalate"),
        )

    async def route(  # type: ignore[no-untyped-def]
        self,
        p: Principal,
        item_id: str,
        rid: str,
        handler: Handler,
        due: datetime | None,
        note: str,
    ) -> tuple[Item, bool]:
        return await self._move(
            p,
            item_id,
            rid,
            lambda i, a: moves.route(i, a, handler, due, note),
            self._street(p, "route"),
        )

    async def send_back(
        self, p: Principal, item_id: str, rid: str, guidance: str
    ) -> tuple[Item, bool]:
        return await self._move(
            p,
            item_id,
            rid,
            lambda i, a: moves.send_back(i, a, guidance),
            self._street(p, "return"),
        )

    async def consult(
        self, p: Principal, item_id: str, rid: str, c: Consultation
    ) -> tuple[Item, bool]:
        return await self._move(
            p, item_id, rid, lambda i, a: moves.consult(i, a, c), self._community(p, "consult")
        )

    async def answer(
        self, p: Principal, item_id: str, rid: str, given: Answer, note: str
    ) -> tuple[Item, bool]:
        return await self._move(
            p,
            item_id,
            rid,
            lambda i, a: moves.answer(i, a, given, note),
            self._community(p, "record the answer to"),
        )

    async def edit(
        self, p: Principal, item_id: str, rid: str, draft: Draft, fields: list[str]
    ) -> tuple[Item, bool]:
        v = Violations("update_mask.")
        unknown = [f for f in fields if f not in EDITABLE]
        if not fields:
            v.add("paths", "must name at least one field")
        for f in unknown:
            v.add("paths", f"{f!r} cannot be changed (allowed: {', '.join(EDITABLE)})")
        v.raise_if_any()
        values = _edited_values(draft, fields)

        def move(i: Item, a: moves.Act) -> Item:
            return moves.edit(i, a, replace(i, **values), fields)  # type: ignore[arg-type]

        def may(item: Item) -> None:
            access.require_community_level(p, "edit", item)
            if "contact" in fields and not access.sees_contact(p, item):
                # Who may not see the resident may not overwrite them either.
                raise NotYours("change the contact of", "those who handle the item")

        return await self._move(p, item_id, rid, move, may)

    async def merge(
        self, p: Principal, rid: str, into_id: str, item_ids: list[str], note: str
    ) -> tuple[Item, bool]:
        v = Violations()
        request_id = check_request_id(v, rid)
        v.raise_if_any()
        access.require_street_level(p, "merge")
        matter = await self._visible(p, into_id)
        access.require_street_level(p, "merge", matter)
        ids = [uuid_arg(i, f"item_ids[{n}]") for n, i in enumerate(item_ids)]
        if len(ids) > 100:
            raise invalid("item_ids", "must name at most 100 items")
        for i in ids:
            await self._visible(p, i)
        if matter.applied(request_id):
            return self.shown(p, matter)
        act = moves.Act(p.subject, self.clock(), request_id, self.deadlines)

        def change(m: Item, items: list[Item]) -> tuple[Item, list[Item], list[events.Event]]:
            after, gathered = moves.merge(m, items, act, note)
            return after, gathered, [events.item_moved(x) for x in (after, *gathered)]

        after = await self.store.merge(matter.id, ids, change, p)
        if after is None:
            raise item_not_found(into_id)
        return self.shown(p, after)

    # -- time limits and other services' events ----------------------------------------------

    async def sweep_overdue(self) -> int:
        """Flags every item past its time limit, once, with its event. The number flagged."""
        now = self.clock()
        flagged = 0
        for item_id in await self.store.overdue_ids(now, SWEEP_BATCH):

            def change(i: Item) -> tuple[Item, list[events.Event]] | None:
                after = flag_overdue(i, now)
                return None if after is None else (after, [events.item_overdue(after)])

            after = await self.store.update_item(item_id, change, None)
            flagged += after is not None and after.overdue
        return flagged

    async def task_completed(self, tx: Tx, task_id: str, note: str) -> None:
        now = self.clock()
        for item_id in await self.store.items_with_task(tx, task_id):

            def change(i: Item) -> tuple[Item, list[events.Event]] | None:
                after = moves.task_completed(i, now, task_id, note)
                return None if after is None else (after, [events.item_moved(after)])

            await self.store.update_item(item_id, change, None, tx=tx)


def _edited_values(d: Draft, fields: list[str]) -> dict[str, object]:
    """The new values of the fields named, checked as when an item is logged."""
    v = Violations("item.")
    values: dict[str, object] = {}
    for f in fields:
        if f == "summary":
            values[f] = check_text(v, "summary", d.summary, 500)
        elif f == "place":
            values[f] = check_text(v, "place", d.place, 120)
        elif f == "contact":
            values[f] = check_contact(v, d.contact)
        elif f in ("category", "urgency"):
            value = getattr(d, f)
            if value is None:
                v.add(f, "is required")
            values[f] = value
        elif f == "grid_id":
            values[f] = check_name(v, "grid_id", d.grid_id, 64)
        elif f == "building_group_id":
            values[f] = d.building_group_id.strip()[:64]
    v.raise_if_any()
    return values
