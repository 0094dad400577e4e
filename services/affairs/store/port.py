"""What the use cases and the event handlers ask of the affairs service's store: one interface,
implemented on PostgreSQL (`postgres.PostgresStore`) and in memory (`memory.MemoryStore`)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, Protocol

from services.affairs.domain.filters import ItemFilter
from services.affairs.domain.items import Item
from services.affairs.events import Event
from services.common.auth import Principal

# The transaction an event is applied in: the consumer's connection for PostgreSQL.
Tx = Any
# A change of an item: the item after it and the events that announce it; None: no change.
Change = Callable[[Item], tuple[Item, list[Event]] | None]
# A merge: the matter and the items gathered into it, after it, and the events.
MergeChange = Callable[[Item, list[Item]], tuple[Item, list[Item], list[Event]]]
# A list's key: (created_at, id) of the last item of the page before.
After = tuple[datetime, str]


class AffairsStore(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[Tx]: ...

    async def put_community(self, tx: Tx, community_id: str, street_id: str) -> None: ...

    async def street_of(self, community_id: str) -> str | None: ...

    async def add_item(self, item: Item, events: list[Event], actor: Principal) -> Item:
        """Adds the item with its events; an item made with the same request id already is
        returned instead (nothing is added)."""
        ...

    async def item(self, item_id: str) -> Item | None:
        """The item with its history."""
        ...

    async def update_item(
        self, item_id: str, change: Change, actor: Principal | None, tx: Tx = None
    ) -> Item | None:
        """Applies `change` under the item's row lock, writes its new history entries and its
        events; the item as it is after (None when there is no such item). With `tx`, inside
        that transaction (an event's)."""
        ...

    async def merge(
        self, into_id: str, item_ids: list[str], change: MergeChange, actor: Principal
    ) -> Item | None:
        """Applies `change` to the matter and the items under their row locks (taken in id
        order); None when one of them is missing."""
        ...

    async def items_with_task(self, tx: Tx, task_id: str) -> list[str]: ...

    async def list_items(self, f: ItemFilter, after: After | None, limit: int) -> list[Item]:
        """Items matching `f`, newest first (by created_at, then id), without their history."""
        ...

    async def overdue_ids(self, now: datetime, limit: int) -> list[str]:
        """Items not final, not flagged, whose time limit ended before `now`."""
        ...
