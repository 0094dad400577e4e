"""What the points service knows of a member from the registry's events: their community, which
decides whose staff may read and redeem their points."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MemberRef:
    id: str
    community_id: str
    # Erased: nothing of them is kept but the ledger's amounts under their id.
    erased: bool = False
