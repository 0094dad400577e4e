"""Where a run plans, and who may act on it: a community, a street, or the whole district."""

from __future__ import annotations

from dataclasses import dataclass

from services.matching.domain.rows import MemberRow, TaskRow


@dataclass(frozen=True)
class Scope:
    kind: str  # "community", "street" or "district"
    id: str = ""

    def holds_task(self, t: TaskRow) -> bool:
        if self.kind == "community":
            return t.community_id == self.id
        if self.kind == "street":
            return t.street_id == self.id
        return True

    def holds_member(self, m: MemberRow) -> bool:
        if self.kind == "community":
            return m.community_id == self.id
        if self.kind == "street":
            return m.street_id == self.id
        return True

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"
