"""The channels an item goes out on beyond the app (whose channel is the inbox's stream): each
sends one item to one member and says what came of it (sent, retry later, refused by the member,
never sendable). `sms.py`: the SMS providers of services/common/sms; `wechat.py`: WeChat
subscription messages."""

from __future__ import annotations

from typing import Protocol

from services.notifications.store import Job, Outcome


class Channel(Protocol):
    name: str

    async def send(self, job: Job) -> tuple[Outcome, str]: ...

    async def aclose(self) -> None: ...
