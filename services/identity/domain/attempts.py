"""Counting attempts in a window: failed sign-ins (locked out past a limit) and codes asked
(refused past a limit). A key is a user name, a phone or a caller; it need not exist, so that a
name nobody holds is locked out exactly like one somebody does."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Attempts:
    """How many attempts under a key since `window_ends - window`; none once it ended."""

    count: int = 0
    window_ends: datetime | None = None

    def current(self, now: datetime) -> int:
        if self.window_ends is None or now >= self.window_ends:
            return 0
        return self.count

    def refused(self, now: datetime, limit: int) -> bool:
        return self.current(now) >= limit

    def retry_after_s(self, now: datetime) -> float:
        if self.window_ends is None:
            return 0.0
        return max((self.window_ends - now).total_seconds(), 1.0)

    def counted(self, now: datetime, window_s: float) -> Attempts:
        """One more attempt; a window that ended starts again from this one."""
        if self.current(now) == 0:
            return Attempts(1, now + timedelta(seconds=window_s))
        return Attempts(self.count + 1, self.window_ends)


def sign_in_key(user_name: str) -> str:
    return f"sign-in:{user_name.lower()}"


def phone_key(phone: str) -> str:
    return f"phone:{phone}"


def code_key(phone: str) -> str:
    return f"code:{phone}"


def caller_key(caller: str) -> str:
    return f"caller:{caller}"
