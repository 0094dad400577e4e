"""The identity service running in this process (gRPC and its JWKS over HTTP on free ports),
with a kept SMS outbox, a district administrator bootstrapped as an operator would, and helpers
to sign in."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlparse

import pyotp
import pytest
from grpc import aio

from linli.v1 import identity_pb2 as pb
from linli.v1 import identity_pb2_grpc
from services.common.settings import IdentitySettings
from services.common.sms.dev import LogSms
from services.identity.__main__ import create_admin
from services.identity.app import IdentityRuntime, build
from tests.conftest import Servers
from tests.support import auth, ref

PASSWORD = "correct horse battery"


@dataclass
class IdentityUnderTest:
    runtime: IdentityRuntime
    stub: identity_pb2_grpc.IdentityServiceStub
    sms: LogSms
    settings: IdentitySettings
    admin_name: str
    admin_totp: pyotp.TOTP
    last_step: int = 0
    _admin: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    @property
    def jwks_url(self) -> str:
        return f"http://127.0.0.1:{self.runtime.http.port}/.well-known/jwks.json"

    async def fresh_code(self) -> str:
        """A code of a time step not used yet (the service accepts each step once): this
        step's or the next's, else wait for the clock to move on."""
        while True:
            step = int(time.time()) // self.admin_totp.interval
            for candidate in (step, step + 1):
                if candidate > self.last_step:
                    self.last_step = candidate
                    return self.admin_totp.generate_otp(candidate)
            await asyncio.sleep(1.0)

    async def admin_tokens(self) -> pb.Tokens:
        """A new sign-in of the district administrator (password and TOTP)."""
        r = await self.stub.SignIn(
            pb.SignInRequest(
                user_name=self.admin_name, password=PASSWORD, totp_code=await self.fresh_code()
            )
        )
        return r.tokens

    async def admin(self) -> tuple[tuple[str, str], ...]:
        """The district administrator's metadata, signed in once for the session."""
        if not self._admin:
            self._admin = auth((await self.admin_tokens()).access_token)
        return self._admin

    def last_code(self, phone: str) -> str:
        sms = self.sms.last_to(phone)
        assert sms is not None
        found = re.search(r"[0-9]{6}", sms.text)
        assert found is not None
        return found.group(0)


@pytest.fixture(scope="session")
async def identity(servers: Servers) -> AsyncIterator[IdentityUnderTest]:
    settings = IdentitySettings(
        grpc_port=0,
        identity_http_port=0,
        health_check_interval_s=0.2,
        sign_in_failures_limit=3,
        dev_mode=True,
        database_url=servers.database_url,
    )
    async with running_identity(settings, servers.nats_url) as under_test:
        yield under_test


@contextlib.asynccontextmanager
async def running_identity(
    settings: IdentitySettings, nats_url: str
) -> AsyncIterator[IdentityUnderTest]:
    """The identity service on `settings.database_url` and `nats_url`, with a district
    administrator created from the console and enrolled in TOTP."""
    assert settings.database_url
    name = ref("admin")
    await create_admin(settings, name, PASSWORD)
    sms = LogSms()
    runtime = build(settings, settings.database_url, nats_url, sms=sms)
    await runtime.start()
    try:
        async with aio.insecure_channel(f"127.0.0.1:{runtime.port}") as ch:
            stub = identity_pb2_grpc.IdentityServiceStub(ch)
            yield await _enrolled(IdentityUnderTest(runtime, stub, sms, settings, name, _NO_TOTP))
    finally:
        await runtime.stop(grace=1.0)


async def another_admin(i: IdentityUnderTest) -> tuple[IdentityUnderTest, str]:
    """Another district administrator of the same service (the same view, its own TOTP), and
    their account id."""
    name = ref("admin")
    account_id = await create_admin(i.settings, name, PASSWORD)
    other = IdentityUnderTest(i.runtime, i.stub, i.sms, i.settings, name, _NO_TOTP)
    return await _enrolled(other), account_id


_NO_TOTP = pyotp.TOTP(pyotp.random_base32())


async def _enrolled(i: IdentityUnderTest) -> IdentityUnderTest:
    uri = (
        await i.stub.EnrolTotp(pb.EnrolTotpRequest(user_name=i.admin_name, password=PASSWORD))
    ).otpauth_uri
    i.admin_totp = pyotp.TOTP(parse_qs(urlparse(uri).query)["secret"][0])
    code = await i.fresh_code()
    await i.stub.ConfirmTotp(
        pb.ConfirmTotpRequest(user_name=i.admin_name, password=PASSWORD, totp_code=code)
    )
    return i
