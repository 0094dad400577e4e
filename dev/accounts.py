"""The demo's people signed in through the identity service, as they would be in a district:
the district office bootstrapped as an operator does it (`create-admin`, then TOTP), an account
for each community's staff, a service account for the matching runs, and members signing in
with the code the development SMS sender writes to the local SMS inbox (dev mode only)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import grpc
import pyotp

from linli.v1 import common_pb2, registry_pb2
from linli.v1 import identity_pb2 as pb
from services.client import Metadata, Stubs, bearer, gather

ROOT = Path(__file__).resolve().parent.parent
# Development only: the accounts of a local demo system, which `make down` throws away.
PASSWORD = "linli demo password"
ADMIN = "district-office"
SERVICE = "matching-runs"


def staff_name(community: str) -> str:
    """The user name of a community's staff account in the demo."""
    return f"staff-{community}"


def bootstrap_admin(database_url: str) -> None:
    """`python -m services.identity create-admin`, the password on stdin, as an operator runs it."""
    env = {**os.environ, "LINLI_DATABASE_URL": database_url, "LINLI_DEV_MODE": "true"}
    subprocess.run(
        [sys.executable, "-m", "services.identity", "create-admin", "--user", ADMIN],
        input=PASSWORD + "\n",
        text=True,
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )


class SignedIn:
    """Tokens from the identity service for everyone who acts (the same shape as `cast.Actors`)."""

    def __init__(self, stubs: Stubs, inbox: Path) -> None:
        self._stubs = stubs
        self._inbox = inbox
        self._inbox_from = 0
        self.admin: Metadata = ()
        self.service: Metadata = ()
        self._staff: dict[str, Metadata] = {}
        self._members: dict[str, Metadata] = {}

    @classmethod
    async def start(
        cls,
        addresses: Mapping[str, str],
        database_url: str,
        inbox: Path,
        communities: Iterable[str],
    ) -> SignedIn:
        await asyncio.to_thread(bootstrap_admin, database_url)
        stubs = Stubs(addresses)
        self = cls(stubs, inbox)
        identity = stubs.identity
        uri = (
            await identity.EnrolTotp(pb.EnrolTotpRequest(user_name=ADMIN, password=PASSWORD))
        ).otpauth_uri
        totp = pyotp.TOTP(parse_qs(urlparse(uri).query)["secret"][0])
        await identity.ConfirmTotp(
            pb.ConfirmTotpRequest(user_name=ADMIN, password=PASSWORD, totp_code=totp.now())
        )
        # Each code is accepted once: the next time step's code (within the allowed drift).
        code = totp.at(time.time(), counter_offset=1)
        signed = await identity.SignIn(
            pb.SignInRequest(user_name=ADMIN, password=PASSWORD, totp_code=code)
        )
        self.admin = bearer(signed.tokens.access_token)
        made = await identity.CreateServiceAccount(
            pb.CreateServiceAccountRequest(client_id=SERVICE), metadata=self.admin
        )
        service = await identity.SignInService(
            pb.SignInServiceRequest(client_id=SERVICE, client_secret=made.client_secret)
        )
        self.service = bearer(service.tokens.access_token)

        async def staff(community: str) -> None:
            name = staff_name(community)
            await identity.CreateAccount(
                pb.CreateAccountRequest(
                    user_name=name,
                    password=PASSWORD,
                    role=common_pb2.ROLE_COMMUNITY_STAFF,
                    community_ids=[community],
                ),
                metadata=self.admin,
            )
            r = await identity.SignIn(pb.SignInRequest(user_name=name, password=PASSWORD))
            self._staff[community] = bearer(r.tokens.access_token)

        await gather(sorted(set(communities)), staff, 4)
        return self

    def staff(self, community: str) -> Metadata:
        return self._staff[community]

    def member(self, member_id: str) -> Metadata:
        return self._members[member_id]

    async def sign_in_members(self, members: Mapping[str, registry_pb2.Member]) -> None:
        """Every member asks for a code, reads it from the local SMS inbox, and signs in."""
        identity = self._stubs.identity
        by_phone = {m.phone: m.id for m in members.values()}
        # Only the texts written from now on: an inbox left by an earlier system holds codes
        # for the same phones that no longer sign in.
        try:
            self._inbox_from = self._inbox.stat().st_size
        except OSError:
            self._inbox_from = 0

        async def ask(phone: str) -> None:
            await identity.StartPhoneSignIn(pb.StartPhoneSignInRequest(phone=phone))

        # The identity service learns members from the registry's events: a phone it did not
        # know yet gets no code, and asks again.
        pending = set(by_phone)
        for _ in range(30):
            await gather(sorted(pending), ask, 16)
            # Codes are sent after the answer: wait long enough that a phone is asked again only
            # when the identity service did not know it yet, not while its code is on its way.
            for _ in range(200):
                pending -= self._codes().keys()
                if not pending:
                    break
                await asyncio.sleep(0.1)
            if not pending:
                break
        if pending:
            raise RuntimeError(f"no sign-in code reached the dev inbox for {len(pending)} members")

        inbox = [self._all_codes()]

        async def complete(phone: str) -> None:
            # A phone asked twice got two codes, and only the one issued last is good: the texts
            # are sent after the answers, so the inbox may hold them in either order. Try the
            # newest first, then the others (the inbox read again, in case one came late).
            tried: set[str] = set()
            for attempt in range(3):
                if attempt:
                    await asyncio.sleep(0.5)
                    inbox[0] = self._all_codes()
                codes = [c for c in reversed(inbox[0].get(phone, [])) if c not in tried]
                if not codes:
                    continue
                tried.add(codes[0])
                try:
                    r = await identity.CompletePhoneSignIn(
                        pb.CompletePhoneSignInRequest(phone=phone, code=codes[0])
                    )
                except grpc.aio.AioRpcError as e:
                    if e.code() != grpc.StatusCode.UNAUTHENTICATED:
                        raise
                    continue
                self._members[by_phone[phone]] = bearer(r.tokens.access_token)
                return
            raise RuntimeError(f"no code in the dev inbox signs {phone[:3]}… in")

        await gather(sorted(by_phone), complete, 16)

    def _codes(self) -> dict[str, str]:
        """The last sign-in code the dev SMS inbox holds for each phone."""
        return {phone: codes[-1] for phone, codes in self._all_codes().items()}

    def _all_codes(self) -> dict[str, list[str]]:
        """Every sign-in code the dev SMS inbox holds for each phone, in the order written."""
        found: dict[str, list[str]] = {}
        try:
            with self._inbox.open("rb") as f:
                f.seek(self._inbox_from)
                text = f.read().decode("utf-8", errors="replace")
        except OSError:
            return found
        for line in text.splitlines():
            try:
                sms = json.loads(line)
            except ValueError:  # a line being written
                continue
            if sms.get("template") == "sign_in_code":
                found.setdefault(sms["phone"], []).append(sms["params"]["code"])
        return found

    async def close(self) -> None:
        await self._stubs.close()
