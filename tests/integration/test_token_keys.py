"""Every service verifies tokens with the keys a real HTTP server publishes: the identity
service's JWKS, and an external OpenID issuer found through its discovery document. Services in
production mode (no development tokens) on a database and a NATS server of their own."""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import grpc
import jwt
import pytest
from grpc import aio

from dev.localinfra import NatsServer
from linli.v1 import (
    matching_pb2,
    matching_pb2_grpc,
    registry_pb2,
    registry_pb2_grpc,
    tasks_pb2,
    tasks_pb2_grpc,
)
from services.common.auth import Principal, Role, issue_token
from services.common.errors import Unauthenticated
from services.common.jwks import JwksKeys, KeyPolicy, KeysUnavailable
from services.common.runtime import ServiceRuntime
from services.common.settings import MatchingSettings, RegistrySettings, TasksSettings
from tests.conftest import ROOT, Servers
from tests.integration.key_server import KeyServer, SigningKey, claims, hs256_with
from tests.support import auth

pytestmark = pytest.mark.integration

SERVICES = ("registry", "tasks", "matching")
APP_AUDIENCE = "linli-app"
Call = Callable[[tuple[tuple[str, str], ...]], Awaitable[Any]]


@dataclass
class System:
    identity: KeyServer
    oidc: KeyServer
    runtimes: dict[str, ServiceRuntime]
    calls: dict[str, Call]


@pytest.fixture(scope="module")
def identity() -> Iterator[KeyServer]:
    server = KeyServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def oidc() -> Iterator[KeyServer]:
    server = KeyServer(keys=[SigningKey.new("EdDSA")]).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
async def system(servers: Servers, identity: KeyServer, oidc: KeyServer) -> AsyncIterator[System]:
    from services.matching.app import build as build_matching
    from services.registry.app import build as build_registry
    from services.tasks.app import build as build_tasks

    name = f"linli_keys_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(servers.admin_url)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    db = urlunsplit(urlsplit(servers.admin_url)._replace(path=f"/{name}"))
    state = ROOT / ".linli" / f"test-keys-{uuid.uuid4().hex[:8]}"
    nats = NatsServer.start(state)
    production: dict[str, Any] = {
        "grpc_port": 0,
        "health_check_interval_s": 0.2,
        "dev_mode": False,
        "jwks_url": identity.jwks_url,
        "jwks_refetch_min_s": 0.0,
        "oidc_issuer": oidc.url,
        "oidc_audience": APP_AUDIENCE,
        "oidc_role_claim": "realm_access.roles",
        "oidc_roles": (("linli-admin", "district_admin"), ("linli-resident", "member")),
        "oidc_subject_claim": "linli_id",
    }
    runtimes = {
        "registry": build_registry(RegistrySettings(**production), db, nats.url),
        "tasks": build_tasks(TasksSettings(sweep_interval_s=3600, **production), db, nats.url),
        "matching": build_matching(MatchingSettings(**production), db, nats.url),
    }
    channels: list[aio.Channel] = []
    try:
        for runtime in runtimes.values():
            await runtime.start()
        channels = [aio.insecure_channel(f"127.0.0.1:{rt.port}") for rt in runtimes.values()]
        registry, tasks, matching = channels
        calls: dict[str, Call] = {
            "registry": lambda md: registry_pb2_grpc.RegistryServiceStub(registry).ListSkills(
                registry_pb2.ListSkillsRequest(), metadata=md
            ),
            "tasks": lambda md: tasks_pb2_grpc.TaskServiceStub(tasks).ListRoles(
                tasks_pb2.ListRolesRequest(), metadata=md
            ),
            "matching": lambda md: matching_pb2_grpc.MatchingServiceStub(matching).ListMatchRuns(
                matching_pb2.ListMatchRunsRequest(), metadata=md
            ),
        }
        yield System(identity, oidc, runtimes, calls)
    finally:
        for channel in channels:
            await channel.close()
        for runtime in reversed(runtimes.values()):
            if getattr(runtime, "server", None) is not None:
                await runtime.stop(grace=1.0)
        nats.stop()
        shutil.rmtree(state, ignore_errors=True)


async def accepted(system: System, service: str, token: str) -> None:
    await system.calls[service](auth(token))


async def refused(system: System, service: str, token: str) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(aio.AioRpcError) as caught:
        await system.calls[service](auth(token))
    return caught.value.code(), caught.value.details() or ""


# -- the identity service's tokens -------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
async def test_a_token_signed_by_the_identity_services_key_is_accepted(
    system: System, service: str
) -> None:
    await accepted(system, service, system.identity.key.sign(claims()))


@pytest.mark.parametrize("service", SERVICES)
async def test_a_token_signed_by_a_key_the_identity_service_never_published_is_refused(
    system: System, service: str
) -> None:
    stranger = SigningKey.new()
    code, details = await refused(system, service, stranger.sign(claims()))
    assert code is grpc.StatusCode.UNAUTHENTICATED
    assert "unknown key" in details
    # Nor does naming a published key id help a foreign signature.
    forged = SigningKey(system.identity.key.kid, "ES256", stranger.private).sign(claims())
    assert (await refused(system, service, forged))[0] is grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize("service", SERVICES)
async def test_an_expired_token_is_refused(system: System, service: str) -> None:
    token = system.identity.key.sign(claims(ttl_s=-30))
    assert await refused(system, service, token) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "token expired",
    )


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize(
    "wrong", [{"audience": "elsewhere"}, {"issuer": "someone-else"}], ids=["audience", "issuer"]
)
async def test_a_token_for_another_audience_or_from_another_issuer_is_refused(
    system: System, service: str, wrong: dict[str, str]
) -> None:
    code, _ = await refused(system, service, system.identity.key.sign(claims(**wrong)))
    assert code is grpc.StatusCode.UNAUTHENTICATED


# -- no development tokens, no algorithm tricks -------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
async def test_production_refuses_a_development_token(system: System, service: str) -> None:
    settings = system.runtimes[service].settings
    token = issue_token(settings, Principal("intruder", Role.DISTRICT_ADMIN))
    assert (await refused(system, service, token))[0] is grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize("service", SERVICES)
async def test_an_unsigned_token_is_refused(system: System, service: str) -> None:
    token = jwt.encode(claims(), None, algorithm="none", headers={"kid": system.identity.key.kid})
    code, details = await refused(system, service, token)
    assert code is grpc.StatusCode.UNAUTHENTICATED and "not accepted" in details


@pytest.mark.parametrize("service", SERVICES)
async def test_an_hs256_token_keyed_with_the_published_public_key_is_refused(
    system: System, service: str
) -> None:
    key = system.identity.key
    for secret in (key.public_pem, json.dumps(key.jwk).encode()):
        token = hs256_with(secret, claims(), kid=key.kid)
        code, details = await refused(system, service, token)
        assert code is grpc.StatusCode.UNAUTHENTICATED and "not accepted" in details


# -- rotation, and the identity service away -----------------------------------------------------


async def test_a_rotated_key_is_accepted_at_its_first_token_by_every_service(
    system: System,
) -> None:
    old = system.identity.key
    for service in SERVICES:  # every service holds the old key set
        await accepted(system, service, old.sign(claims()))
    system.identity.keys.append(SigningKey.new())
    new = system.identity.key
    for service in SERVICES:
        await accepted(system, service, new.sign(claims()))
        await accepted(system, service, old.sign(claims()))  # still published: still good


async def test_the_identity_service_briefly_away_costs_no_call_with_a_known_key(
    system: System,
) -> None:
    known = system.identity.key
    for service in SERVICES:
        await accepted(system, service, known.sign(claims()))
    system.identity.stop()
    try:
        for service in SERVICES:
            await accepted(system, service, known.sign(claims()))
            # A key not seen yet cannot be checked now: the caller is told to retry.
            code, _ = await refused(system, service, SigningKey.new().sign(claims()))
            assert code is grpc.StatusCode.UNAVAILABLE
    finally:
        system.identity.start()
    system.identity.keys.append(SigningKey.new())
    for service in SERVICES:
        await accepted(system, service, system.identity.key.sign(claims()))


# -- an external OpenID issuer -------------------------------------------------------------------


def external(system: System, roles: list[str], **extra: Any) -> str:
    c = claims(issuer=system.oidc.url, audience=APP_AUDIENCE, subject="idp-7f3a", role="")
    del c["role"]
    c |= {"realm_access": {"roles": ["offline_access", *roles]}, "linli_id": "ext-admin-1"}
    return system.oidc.key.sign(c | extra)


@pytest.mark.parametrize("service", SERVICES)
async def test_an_external_issuers_token_is_accepted_with_its_claims_mapped(
    system: System, service: str
) -> None:
    await accepted(system, service, external(system, ["linli-admin"]))


async def test_an_external_issuers_roles_are_mapped_to_linli_roles(system: System) -> None:
    # A resident (a member) may not list matching runs: the mapped role is the one enforced.
    code, _ = await refused(system, "matching", external(system, ["linli-resident"]))
    assert code is grpc.StatusCode.PERMISSION_DENIED
    for roles in ([], ["unmapped"], ["linli-admin", "linli-resident"]):
        code, _ = await refused(system, "registry", external(system, roles))
        assert code is grpc.StatusCode.UNAUTHENTICATED


async def test_an_external_issuers_token_must_name_its_audience_and_its_own_key(
    system: System,
) -> None:
    code, _ = await refused(system, "tasks", external(system, ["linli-admin"], aud="linli"))
    assert code is grpc.StatusCode.UNAUTHENTICATED
    # The identity service's key does not sign for the external issuer, nor the reverse.
    c = claims(issuer=system.oidc.url, audience=APP_AUDIENCE) | {"linli_id": "x"}
    c |= {"realm_access": {"roles": ["linli-admin"]}}
    code, _ = await refused(system, "tasks", system.identity.key.sign(c))
    assert code is grpc.StatusCode.UNAUTHENTICATED


# -- the key source on its own ---------------------------------------------------------------------


@pytest.fixture
def key_server() -> Iterator[KeyServer]:
    server = KeyServer().start()
    yield server
    server.stop()


async def test_a_flood_of_made_up_key_ids_costs_the_key_source_one_request_per_period(
    key_server: KeyServer,
) -> None:
    keys = JwksKeys(
        jwks_url=key_server.jwks_url,
        algorithms=["ES256"],
        policy=KeyPolicy(refetch_min_s=1.0),
    )
    try:
        results = await asyncio.gather(
            *(keys.key(f"made-up-{i}") for i in range(200)), return_exceptions=True
        )
        assert all(isinstance(r, Unauthenticated) for r in results)
        assert key_server.requests["/.well-known/jwks.json"] <= 2
        # A key published meanwhile is found by the next fetch, without a failed call.
        key_server.keys.append(SigningKey.new())
        assert (await keys.key(key_server.key.kid)).key_id == key_server.key.kid
        assert key_server.requests["/.well-known/jwks.json"] <= 3
    finally:
        await keys.close()


async def test_symmetric_and_encryption_keys_in_a_key_set_are_never_used(
    key_server: KeyServer,
) -> None:
    key_server.extra = [
        {"kty": "oct", "kid": "shared", "alg": "HS256", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQ"},
        SigningKey.new().jwk | {"kid": "for-encryption", "use": "enc"},
    ]
    keys = JwksKeys(
        jwks_url=key_server.jwks_url, algorithms=["ES256"], policy=KeyPolicy(refetch_min_s=0)
    )
    try:
        assert (await keys.key(key_server.key.kid)).key_id == key_server.key.kid
        for kid in ("shared", "for-encryption"):
            with pytest.raises(Unauthenticated):
                await keys.key(kid)
    finally:
        await keys.close()


async def test_a_discovery_document_naming_another_issuer_is_not_trusted(
    key_server: KeyServer,
) -> None:
    # The server names itself http://127.0.0.1:<port>; asked as localhost, it is someone else.
    pretender = key_server.url.replace("127.0.0.1", "localhost")
    keys = JwksKeys(issuer=pretender, algorithms=["ES256"])
    try:
        with pytest.raises(KeysUnavailable):
            await keys.key(key_server.key.kid)
        assert key_server.requests["/.well-known/jwks.json"] == 0
    finally:
        await keys.close()


async def test_an_issuer_found_through_discovery_serves_its_keys(key_server: KeyServer) -> None:
    keys = JwksKeys(issuer=key_server.url, algorithms=["ES256"])
    try:
        assert (await keys.key(key_server.key.kid)).key_id == key_server.key.kid
        assert (await keys.key(None)).key_id == key_server.key.kid  # a lone key needs no id
    finally:
        await keys.close()


class Clock:
    """A monotonic clock a test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_old_keys_serve_while_they_are_refreshed_in_the_background(
    key_server: KeyServer,
) -> None:
    clock = Clock()
    policy = KeyPolicy(cache_s=60, refetch_min_s=0)
    keys = JwksKeys(jwks_url=key_server.jwks_url, algorithms=["ES256"], policy=policy, clock=clock)
    try:
        first = key_server.key
        await keys.key(first.kid)
        key_server.keys = [SigningKey.new()]  # the old key retired, a new one published
        clock.now += 61
        # Answered from the cache at once; the refresh it started brings the new set.
        assert (await keys.key(first.kid)).key_id == first.kid
        assert (await keys.key(key_server.key.kid)).key_id == key_server.key.kid
        with pytest.raises(Unauthenticated):
            await keys.key(first.kid)
    finally:
        await keys.close()


async def test_keys_past_their_stale_limit_are_not_used_while_the_source_is_away(
    key_server: KeyServer,
) -> None:
    clock = Clock()
    policy = KeyPolicy(cache_s=60, refetch_min_s=0, max_stale_s=600)
    keys = JwksKeys(jwks_url=key_server.jwks_url, algorithms=["ES256"], policy=policy, clock=clock)
    try:
        known = key_server.key.kid
        await keys.key(known)
        key_server.stop()
        clock.now += 300  # away, within the limit: the keys in hand serve
        assert (await keys.key(known)).key_id == known
        clock.now += 301  # past it: a key is trusted only as long as its source can be asked
        with pytest.raises(KeysUnavailable):
            await keys.key(known)
        key_server.start()
        assert (await keys.key(known)).key_id == known
    finally:
        await keys.close()
