"""What the identity service knows of a registered member: enough to sign them in."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MemberRef:
    id: str
    phone: str
    community_id: str
    active: bool
