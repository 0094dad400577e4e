"""A scheduled run's sign-in over TLS: with LINLI_TLS_CA_FILE set, `linli` signs its service
account in at an identity service that serves TLS, as every one of its other calls does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from linli.v1 import identity_pb2 as pb
from services.common.runtime import ServiceRuntime
from services.common.sms.dev import LogSms
from services.identity.app import build
from tests.conftest import Servers
from tests.integration.cli_support import linli
from tests.integration.identity_support import IdentityUnderTest, identity
from tests.integration.test_tls import Authority
from tests.support import ref

__all__ = ["identity"]

pytestmark = pytest.mark.integration


@pytest.fixture
async def identity_over_tls(
    identity: IdentityUnderTest, servers: Servers, tmp_path: Path
) -> AsyncIterator[tuple[ServiceRuntime, Authority]]:
    """A second replica of the identity service, on the same database, serving TLS."""
    ca = Authority.make(tmp_path, "ca")
    issued = ca.issue(tmp_path / "tls.crt", tmp_path / "tls.key")
    settings = identity.settings.model_copy(
        update={
            "health_port": 0,
            "tls_cert_file": str(issued.cert),
            "tls_key_file": str(issued.key),
        }
    )
    runtime = build(settings, servers.database_url, servers.nats_url, sms=LogSms())
    await runtime.start()
    yield runtime, ca
    await runtime.stop(grace=1.0)


async def test_a_service_account_signs_in_over_tls_when_the_caller_trusts_the_ca(
    identity: IdentityUnderTest,
    identity_over_tls: tuple[ServiceRuntime, Authority],
    tmp_path: Path,
) -> None:
    runtime, ca = identity_over_tls
    made = await identity.stub.CreateServiceAccount(
        pb.CreateServiceAccountRequest(client_id=ref("scheduler")), metadata=await identity.admin()
    )
    env = {
        "LINLI_IDENTITY_ADDRESS": f"127.0.0.1:{runtime.port}",
        "XDG_CONFIG_HOME": str(tmp_path),
        "LINLI_CLIENT_ID": made.account.user_name,
        "LINLI_CLIENT_SECRET": made.client_secret,
        "LINLI_TLS_CA_FILE": str(ca.cert_file),
    }
    # Signed in (over TLS) as the service, which manages no account: refused for what it is,
    # not for a connection that could not be made.
    rc, _, err = await linli("account", "list", env=env)
    assert rc == 1 and "PERMISSION_DENIED" in err, err
    env["LINLI_CLIENT_SECRET"] = "not the secret"
    rc, _, err = await linli("account", "list", env=env)
    assert rc == 1 and "UNAUTHENTICATED" in err, err
