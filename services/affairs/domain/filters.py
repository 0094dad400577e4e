"""Which items a List call or the figures take: the caller's scope and the filters asked for,
as one value both stores apply alike (the memory store with `matches`, PostgreSQL in SQL)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.affairs.domain.items import Category, Item, Stage
from services.common.auth import Principal, Role


@dataclass(frozen=True)
class ItemFilter:
    # The scope: None means everywhere; otherwise items of these communities or streets, and
    # those routed to `handler` (an account).
    communities: frozenset[str] | None = None
    streets: frozenset[str] | None = None
    handler: str = ""
    # What the caller asked for.
    community_id: str = ""
    street_id: str = ""
    grid_id: str = ""
    category: Category | None = None
    stage: Stage | None = None
    overdue_only: bool = False
    created_from: datetime | None = None
    created_before: datetime | None = None

    @classmethod
    def scope_of(cls, p: Principal, **asked: object) -> ItemFilter:
        if p.is_everywhere:
            return cls(**asked)  # type: ignore[arg-type]
        # As Principal.holds: staff by their communities, street administrators by their streets.
        return cls(
            communities=p.community_ids if p.role is Role.COMMUNITY_STAFF else frozenset(),
            streets=p.street_ids if p.role is Role.STREET_ADMIN else frozenset(),
            handler=p.subject,
            **asked,  # type: ignore[arg-type]
        )

    def in_scope(self, item: Item) -> bool:
        if self.communities is None and self.streets is None:
            return True
        routed = item.handler is not None and item.handler.subject == self.handler != ""
        return (
            item.community_id in (self.communities or frozenset())
            or item.street_id in (self.streets or frozenset())
            or routed
        )

    def matches(self, item: Item) -> bool:
        return (
            self.in_scope(item)
            and (not self.community_id or item.community_id == self.community_id)
            and (not self.street_id or item.street_id == self.street_id)
            and (not self.grid_id or item.grid_id == self.grid_id)
            and (self.category is None or item.category is self.category)
            and (self.stage is None or item.stage is self.stage)
            and (not self.overdue_only or item.overdue)
            and (self.created_from is None or item.created_at >= self.created_from)
            and (self.created_before is None or item.created_at < self.created_before)
        )

    def as_key(self) -> dict[str, object]:
        """What a page token is bound to."""
        return {k: sorted(v) if isinstance(v, frozenset) else v for k, v in vars(self).items()}
