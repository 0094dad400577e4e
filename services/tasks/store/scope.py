"""Which tasks a list or search may return, as a SQL condition."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# common.values.claim_deadline in SQL, the expression the task_due index is built on.
DEADLINE_SQL = "(CASE WHEN t.flexible THEN t.window_end ELSE t.window_start END)"


@dataclass(frozen=True)
class Scope:
    """Which tasks a list or search may return: None everywhere means no limit."""

    community_ids: Sequence[str] | None = None
    street_ids: Sequence[str] | None = None
    # For members: their community, plus street-wide tasks of their street.
    member_community: str | None = None
    member_street: str | None = None

    def admits(self, community_id: str, street_id: str, street_wide: bool) -> bool:
        """Whether a task of this place is inside the scope (as `sql` says in SQL)."""
        if self.member_community is not None:
            return community_id == self.member_community or (
                street_wide and street_id == self.member_street
            )
        if self.community_ids is None and self.street_ids is None:
            return True
        return (self.community_ids is not None and community_id in self.community_ids) or (
            self.street_ids is not None and street_id in self.street_ids
        )

    def sql(self, args: list[object]) -> str:
        def arg(value: object) -> str:
            args.append(value)
            return f"${len(args)}"

        if self.member_community is not None:
            return (
                f"(t.community_id = {arg(self.member_community)} OR "
                f"(t.street_wide AND t.street_id = {arg(self.member_street)}))"
            )
        clauses = []
        if self.community_ids is not None:
            clauses.append(f"t.community_id = ANY({arg(list(self.community_ids))}::text[])")
        if self.street_ids is not None:
            clauses.append(f"t.street_id = ANY({arg(list(self.street_ids))}::text[])")
        return "(" + " OR ".join(clauses) + ")" if clauses else "true"
