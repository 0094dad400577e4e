"""The identity service over real gRPC, PostgreSQL and NATS: each kind of account signs in,
lock-out answers alike for a missing account, refresh rotation and reuse, sign-out, key
rotation with old tokens still valid, the JWKS over HTTP, and members signing in by phone."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import grpc
import httpx
import jwt
import pytest
from grpc import aio

from linli.v1 import common_pb2, registry_pb2, registry_pb2_grpc
from linli.v1 import identity_pb2 as pb
from services.common.auth import Role
from tests.conftest import ROOT, Servers
from tests.integration.conftest import District
from tests.integration.identity_support import PASSWORD, IdentityUnderTest, identity
from tests.support import auth, member_proto, ref, request_id

__all__ = ["identity"]

pytestmark = pytest.mark.integration


def claims_of(token: str) -> dict[str, object]:
    return jwt.decode(token, options={"verify_signature": False})


async def staff_account(
    i: IdentityUnderTest, district: District, name: str | None = None
) -> tuple[str, str]:
    name = name or ref("staff")
    r = await i.stub.CreateAccount(
        pb.CreateAccountRequest(
            user_name=name,
            password=PASSWORD,
            role=common_pb2.ROLE_COMMUNITY_STAFF,
            community_ids=[district.community],
        ),
        metadata=await i.admin(),
    )
    return name, r.account.id


async def test_a_district_administrator_signs_in_with_password_and_totp(
    identity: IdentityUnderTest,
) -> None:
    tokens = await identity.admin_tokens()
    c = claims_of(tokens.access_token)
    assert c["role"] == Role.DISTRICT_ADMIN.value and c["iss"] == "linli"
    assert tokens.principal.role == common_pb2.ROLE_DISTRICT_ADMIN and tokens.refresh_token
    with pytest.raises(grpc.RpcError) as e:
        await identity.stub.SignIn(
            pb.SignInRequest(user_name=identity.admin_name, password=PASSWORD)
        )
    assert e.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    # A code is accepted once.
    with pytest.raises(grpc.RpcError) as e:
        await identity.stub.SignIn(
            pb.SignInRequest(
                user_name=identity.admin_name,
                password=PASSWORD,
                totp_code=identity.admin_totp.generate_otp(identity.last_step),
            )
        )
    assert e.value.code() is grpc.StatusCode.UNAUTHENTICATED


async def test_community_staff_sign_in_and_an_account_change_is_published(
    identity: IdentityUnderTest, district: District
) -> None:
    name, account_id = await staff_account(identity, district)
    r = await identity.stub.SignIn(pb.SignInRequest(user_name=name, password=PASSWORD))
    c = claims_of(r.tokens.access_token)
    assert c["sub"] == account_id and c["communities"] == [district.community]
    # The staff member may read their own account with the token, and manage nobody.
    mine = auth(r.tokens.access_token)
    got = await identity.stub.GetAccount(pb.GetAccountRequest(id=account_id), metadata=mine)
    assert got.account.user_name == name
    with pytest.raises(grpc.RpcError) as e:
        await identity.stub.ListAccounts(pb.ListAccountsRequest(), metadata=mine)
    assert e.value.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_a_service_account_signs_in_with_its_client_secret(
    identity: IdentityUnderTest,
) -> None:
    created = await identity.stub.CreateServiceAccount(
        pb.CreateServiceAccountRequest(client_id=ref("batch")), metadata=await identity.admin()
    )
    r = await identity.stub.SignInService(
        pb.SignInServiceRequest(
            client_id=created.account.user_name, client_secret=created.client_secret
        )
    )
    assert claims_of(r.tokens.access_token)["role"] == "service" and not r.tokens.refresh_token


async def test_lock_out_answers_alike_whether_or_not_the_account_exists(
    identity: IdentityUnderTest, district: District
) -> None:
    name, _ = await staff_account(identity, district)
    answers = []
    for who in (name, ref("nobody")):
        seen = []
        for _ in range(identity.settings.sign_in_failures_limit + 1):
            with pytest.raises(grpc.RpcError) as e:
                await identity.stub.SignIn(
                    pb.SignInRequest(user_name=who, password="not the password")
                )
            seen.append((e.value.code(), e.value.details()))
        answers.append(seen)
    assert answers[0] == answers[1]
    assert [c for c, _ in answers[0]] == [grpc.StatusCode.UNAUTHENTICATED] * 3 + [
        grpc.StatusCode.RESOURCE_EXHAUSTED
    ]


async def test_refresh_rotates_and_a_reused_token_revokes_the_sign_in(
    identity: IdentityUnderTest, district: District
) -> None:
    name, _ = await staff_account(identity, district)
    first = (await identity.stub.SignIn(pb.SignInRequest(user_name=name, password=PASSWORD))).tokens
    second = (
        await identity.stub.Refresh(pb.RefreshRequest(refresh_token=first.refresh_token))
    ).tokens
    assert second.refresh_token != first.refresh_token and second.access_token
    for spent in (first.refresh_token, second.refresh_token):
        with pytest.raises(grpc.RpcError) as e:
            await identity.stub.Refresh(pb.RefreshRequest(refresh_token=spent))
        assert e.value.code() is grpc.StatusCode.UNAUTHENTICATED


async def test_sign_out_and_a_disabled_account_revoke_refresh_tokens(
    identity: IdentityUnderTest, district: District
) -> None:
    name, account_id = await staff_account(identity, district)
    one = (await identity.stub.SignIn(pb.SignInRequest(user_name=name, password=PASSWORD))).tokens
    two = (await identity.stub.SignIn(pb.SignInRequest(user_name=name, password=PASSWORD))).tokens
    await identity.stub.SignOut(pb.SignOutRequest(refresh_token=one.refresh_token))
    with pytest.raises(grpc.RpcError):
        await identity.stub.Refresh(pb.RefreshRequest(refresh_token=one.refresh_token))
    await identity.stub.DisableAccount(
        pb.DisableAccountRequest(id=account_id), metadata=await identity.admin()
    )
    with pytest.raises(grpc.RpcError) as e:
        await identity.stub.Refresh(pb.RefreshRequest(refresh_token=two.refresh_token))
    assert e.value.code() is grpc.StatusCode.UNAUTHENTICATED


async def test_the_jwks_over_http_verifies_tokens_across_a_key_rotation(
    identity: IdentityUnderTest,
) -> None:
    signed = await identity.admin_tokens()
    old = signed.access_token
    rotated = await identity.stub.RotateSigningKey(pb.RotateSigningKeyRequest(), metadata=auth(old))
    # A refresh after the rotation signs with the new key.
    refreshed = await identity.stub.Refresh(pb.RefreshRequest(refresh_token=signed.refresh_token))
    new = refreshed.tokens.access_token
    assert jwt.get_unverified_header(new)["kid"] == rotated.active_kid
    async with httpx.AsyncClient() as http:
        r = await http.get(identity.jwks_url)
    assert r.status_code == 200
    keys = jwt.PyJWKSet.from_dict(r.json())
    for token in (old, new):
        kid = jwt.get_unverified_header(token)["kid"]
        key = next(k for k in keys.keys if k.key_id == kid)
        c = jwt.decode(token, key.key, algorithms=["ES256"], audience="linli", issuer="linli")
        assert c["role"] == "district_admin"
    # The old token still works at the service itself, and the gRPC JWKS is the same document.
    await identity.stub.ListAccounts(pb.ListAccountsRequest(), metadata=auth(old))
    grpc_jwks = await identity.stub.GetJwks(pb.GetJwksRequest())
    assert json.loads(grpc_jwks.jwks_json) == r.json()
    assert all("d" not in k for k in r.json()["keys"])  # public halves only


async def test_anything_but_the_jwks_path_is_not_found_over_http(
    identity: IdentityUnderTest,
) -> None:
    async with httpx.AsyncClient() as http:
        r = await http.get(identity.jwks_url.replace("jwks.json", "other"))
    assert r.status_code == 404


async def test_a_member_signs_in_by_phone_and_a_stranger_gets_the_same_answer(
    identity: IdentityUnderTest,
    district: District,
    stub: registry_pb2_grpc.RegistryServiceStub,
    admin: tuple[tuple[str, str], ...],
) -> None:
    m = await stub.RegisterMember(
        registry_pb2.RegisterMemberRequest(
            request_id=request_id(), member=member_proto(district.community, district.grid)
        ),
        metadata=admin,
    )
    phone = m.member.phone
    store = identity.runtime.identity.store
    for _ in range(600):  # the registry's event reaches the read model
        if await store.member_by_phone(phone) is not None:
            break
        await asyncio.sleep(0.05)
    asked = await identity.stub.StartPhoneSignIn(pb.StartPhoneSignInRequest(phone=phone))
    stranger = await identity.stub.StartPhoneSignIn(pb.StartPhoneSignInRequest(phone="13700009999"))
    assert asked == stranger
    for _ in range(200):
        if identity.sms.last_to(phone) is not None:
            break
        await asyncio.sleep(0.05)
    code = identity.last_code(phone)
    r = await identity.stub.CompletePhoneSignIn(
        pb.CompletePhoneSignInRequest(phone=phone, code=code)
    )
    c = claims_of(r.tokens.access_token)
    assert c["sub"] == m.member.id and c["role"] == "member"
    assert c["communities"] == [district.community]
    with pytest.raises(grpc.RpcError) as e:
        await identity.stub.CompletePhoneSignIn(
            pb.CompletePhoneSignInRequest(phone=phone, code=code)
        )
    assert e.value.code() is grpc.StatusCode.UNAUTHENTICATED
    # A member's token is refused at the door of the staff methods.
    with pytest.raises(grpc.RpcError) as e:
        await identity.stub.ListAccounts(
            pb.ListAccountsRequest(), metadata=auth(r.tokens.access_token)
        )
    assert e.value.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_bad_input_names_the_field(identity: IdentityUnderTest) -> None:
    with pytest.raises(grpc.RpcError) as e:
        await identity.stub.StartPhoneSignIn(pb.StartPhoneSignInRequest(phone="12"))
    assert e.value.code() is grpc.StatusCode.INVALID_ARGUMENT and "phone" in e.value.details()
    with pytest.raises(grpc.RpcError) as e:
        await identity.stub.CreateAccount(
            pb.CreateAccountRequest(user_name="x", password="p", role=common_pb2.ROLE_MEMBER),
            metadata=await identity.admin(),
        )
    assert e.value.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_management_needs_a_token(identity: IdentityUnderTest) -> None:
    async with aio.insecure_channel(f"127.0.0.1:{identity.runtime.port}") as ch:
        from linli.v1 import identity_pb2_grpc

        with pytest.raises(grpc.RpcError) as e:
            await identity_pb2_grpc.IdentityServiceStub(ch).ListAccounts(pb.ListAccountsRequest())
    assert e.value.code() is grpc.StatusCode.UNAUTHENTICATED


async def test_the_http_side_answers_garbage_with_400_and_head_with_the_head_only(
    identity: IdentityUnderTest,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", identity.runtime.http.port)
    writer.write(b"\x00\x01 not http at all\r\n\r\n")
    await writer.drain()
    answer = await reader.read()
    writer.close()
    assert answer.startswith(b"HTTP/1.1 400 ")
    async with httpx.AsyncClient() as http:
        head = await http.head(identity.jwks_url)
    assert head.status_code == 200 and int(head.headers["content-length"]) > 0


async def test_an_operator_creates_the_first_administrator_from_the_console(
    identity: IdentityUnderTest, servers: Servers
) -> None:
    name = ref("admin")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LINLI_")},
        "LINLI_DATABASE_URL": servers.database_url,
        "LINLI_DEV_MODE": "true",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.identity",
        "create-admin",
        "--user",
        name,
        cwd=ROOT,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(PASSWORD.encode() + b"\n"), timeout=120)
    assert proc.returncode == 0, err.decode()
    assert name in out.decode()
    # The administrator exists, and must enrol TOTP before signing in.
    with pytest.raises(grpc.RpcError) as e:
        await identity.stub.SignIn(pb.SignInRequest(user_name=name, password=PASSWORD))
    assert e.value.code() is grpc.StatusCode.FAILED_PRECONDITION
