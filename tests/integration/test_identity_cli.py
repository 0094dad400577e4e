"""`linli totp-enrol`, `linli login`, `linli account` and `linli logout` against the identity
service: the tokens kept readable by the user only, refreshed when they run out, revoked at
logout."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pyotp
import pytest

from linli.v1 import identity_pb2 as pb
from services.identity.__main__ import create_admin
from tests.integration.cli_support import ROOT, linli
from tests.integration.conftest import District
from tests.integration.identity_support import PASSWORD, IdentityUnderTest, identity
from tests.support import ref

__all__ = ["identity"]

pytestmark = pytest.mark.integration


async def test_an_administrator_logs_in_manages_accounts_and_logs_out(
    identity: IdentityUnderTest, district: District, tmp_path: Path
) -> None:
    env = {
        "LINLI_IDENTITY_ADDRESS": f"127.0.0.1:{identity.runtime.port}",
        "XDG_CONFIG_HOME": str(tmp_path),
    }
    kept = tmp_path / "linli" / "tokens.json"
    rc, _, err = await linli(
        "login",
        "--user",
        identity.admin_name,
        "--password",
        PASSWORD,
        "--totp",
        await identity.fresh_code(),
        env=env,
    )
    assert rc == 0, err
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    name = ref("staff")
    rc, out, err = await linli(
        "--output",
        "json",
        "account",
        "create",
        "--user",
        name,
        "--role",
        "community_staff",
        "--community",
        district.community,
        "--password",
        PASSWORD,
        env=env,
    )
    assert rc == 0, err
    account_id = json.loads(out)["account"]["id"]

    # The access token ran out: the next command refreshes it on its own.
    data = json.loads(kept.read_text())
    data["access_expires_at"] = 0
    kept.write_text(json.dumps(data))
    rc, out, err = await linli("--output", "json", "account", "list", env=env)
    assert rc == 0, err
    assert name in [a["user_name"] for a in json.loads(out)["accounts"]]
    assert json.loads(kept.read_text())["refresh_token"] != data["refresh_token"]

    rc, out, err = await linli("--output", "json", "account", "disable", account_id, env=env)
    assert rc == 0 and json.loads(out)["account"]["disabled"] is True, err
    rc, _, err = await linli("logout", env=env)
    assert rc == 0, err
    assert not kept.exists()


async def test_a_service_account_signs_the_command_in_with_its_client_credentials(
    identity: IdentityUnderTest, tmp_path: Path
) -> None:
    made = await identity.stub.CreateServiceAccount(
        pb.CreateServiceAccountRequest(client_id=ref("report")), metadata=await identity.admin()
    )
    env = {
        "LINLI_IDENTITY_ADDRESS": f"127.0.0.1:{identity.runtime.port}",
        "XDG_CONFIG_HOME": str(tmp_path),
        "LINLI_CLIENT_ID": made.account.user_name,
        "LINLI_CLIENT_SECRET": made.client_secret,
    }
    # Signed in as the service (not as the local administrator): it manages no account.
    rc, _, err = await linli("account", "list", env=env)
    assert rc == 1 and "PERMISSION_DENIED" in err
    env["LINLI_CLIENT_SECRET"] = "not the secret"
    rc, _, err = await linli("account", "list", env=env)
    assert rc == 1 and "UNAUTHENTICATED" in err


async def test_a_new_administrator_enrols_an_authenticator_then_logs_in(
    identity: IdentityUnderTest, tmp_path: Path
) -> None:
    name = ref("admin")
    await create_admin(identity.settings, name, PASSWORD)
    env = {
        "LINLI_IDENTITY_ADDRESS": f"127.0.0.1:{identity.runtime.port}",
        "XDG_CONFIG_HOME": str(tmp_path),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "services.cli.main", "totp-enrol", "--user", name, "--password", PASSWORD),
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith("LINLI_")} | env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stderr is not None
    # The URI is shown on the terminal, then the command asks for the authenticator's first code.
    uri = ""
    while not uri.startswith("otpauth://"):
        line = await asyncio.wait_for(proc.stderr.readline(), timeout=120)
        assert line, "the command ended before showing the URI"
        uri = line.decode().strip()
    totp = pyotp.TOTP(parse_qs(urlparse(uri).query)["secret"][0])
    step = int(time.time()) // totp.interval
    proc.stdin.write(f"{totp.generate_otp(step)}\n".encode())
    await proc.stdin.drain()
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode == 0, err.decode()
    assert uri not in out.decode()

    # Each code is accepted once: the next step's code signs in (within the allowed drift).
    rc, _, err_text = await linli(
        "login",
        "--user",
        name,
        "--password",
        PASSWORD,
        "--totp",
        totp.generate_otp(step + 1),
        env=env,
    )
    assert rc == 0, err_text
