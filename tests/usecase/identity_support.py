"""An identity service on the in-memory store, with a clock the tests move, a fast password
hasher, communities in streets and a registered member."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher

from services.common.auth import Principal, Role
from services.common.settings import IdentitySettings
from services.common.sms.dev import LogSms
from services.identity.domain.members import MemberRef
from services.identity.service import Identity, Passwords
from services.identity.store.memory import MemoryStore

ADMIN = Principal("operator", Role.DISTRICT_ADMIN)
PASSWORD = "correct horse battery"
MEMBER_PHONE = "13900001111"


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime(2026, 12, 1, 8, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def move(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Setup:
    identity: Identity
    store: MemoryStore
    sms: LogSms
    clock: Clock
    settings: IdentitySettings

    def last_code(self, phone: str) -> str:
        sms = self.sms.last_to(phone)
        assert sms is not None
        found = re.search(r"[0-9]{6}", sms.text)
        assert found is not None
        return found.group(0)


def fast_passwords() -> Passwords:
    # The same argon2id, with parameters small enough for tests.
    return Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


async def setup(**overrides: object) -> Setup:
    settings = IdentitySettings.model_validate({"dev_mode": True, **overrides})
    store, sms, clock = MemoryStore(), LogSms(), Clock()
    identity = Identity(store, settings, sms, clock, fast_passwords())
    await identity.tokens.ensure_key()
    async with store.transaction() as tx:
        await store.put_community(tx, "c1", "s1")
        await store.put_community(tx, "c2", "s1")
        await store.put_community(tx, "c3", "s2")
        await store.put_member(tx, MemberRef("m1", MEMBER_PHONE, "c1", True), clock())
    return Setup(identity, store, sms, clock, settings)
