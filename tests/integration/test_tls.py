"""TLS on the gRPC port: a service given a certificate answers only over TLS, to callers that
trust its CA; its probes still answer in plaintext on the health-only port; a renewed
certificate is served without a restart; with a client CA, callers must bring a certificate."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from linli.v1 import registry_pb2
from services.client import Session, client_tls
from services.common.auth import Role
from services.common.runtime import SERVING, ServiceRuntime, health_check
from services.common.service_list import REGISTRY
from services.common.settings import ClientSettings, RegistrySettings
from services.common.tls import CertificateFiles, ClientTls, TlsConfigError
from services.registry.app import build
from tests.conftest import Servers
from tests.support import token

pytestmark = pytest.mark.integration


@dataclass
class Issued:
    cert: Path
    key: Path


@dataclass
class Authority:
    """A certificate authority of a test's own, as cert-manager's CA issuer would be."""

    name: str
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    cert_file: Path

    @classmethod
    def make(cls, directory: Path, name: str) -> Authority:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        path = directory / f"{name}.crt"
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return cls(name, key, cert, path)

    def issue(self, cert_file: Path, key_file: Path, *, client: bool = False) -> Issued:
        """A leaf for 127.0.0.1 and localhost (a server's), or for a caller (a client's)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "linli")]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        # The key first, as a renewal may land: the service must not take a half-written pair.
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return Issued(cert_file, key_file)


@dataclass
class Secured:
    runtime: ServiceRuntime
    settings: RegistrySettings
    ca: Authority
    issued: Issued
    address: str


async def start(servers: Servers, settings: RegistrySettings) -> ServiceRuntime:
    runtime = build(settings, servers.database_url, servers.nats_url)
    await runtime.start()
    return runtime


@pytest.fixture
async def secured(servers: Servers, tmp_path: Path) -> AsyncIterator[Secured]:
    ca = Authority.make(tmp_path, "ca")
    issued = ca.issue(tmp_path / "tls.crt", tmp_path / "tls.key")
    settings = RegistrySettings(
        grpc_port=0,
        health_port=0,
        shutdown_grace_s=1.0,
        health_check_interval_s=0.2,
        tls_cert_file=str(issued.cert),
        tls_key_file=str(issued.key),
    )
    runtime = await start(servers, settings)
    yield Secured(runtime, settings, ca, issued, f"127.0.0.1:{runtime.port}")
    await runtime.stop(grace=1.0)


async def until_serving(channel: aio.Channel, name: str = REGISTRY.grpc_service) -> int:
    """The health status once the service is ready (it checks its database first)."""
    stub = health_pb2_grpc.HealthStub(channel)
    status = -1
    for _ in range(200):
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
        status = reply.status
        if status == SERVING:
            break
        await asyncio.sleep(0.1)
    return status


async def list_streets(address: str, tls: ClientTls, settings: RegistrySettings) -> int:
    """An authenticated API call through the callers' own session, as the CLI makes it."""
    admin = token(settings, Role.DISTRICT_ADMIN, "district-admin")
    where = {s: address for s in ("registry", "tasks", "matching", "identity")}  # one is called
    async with Session(where, admin, tls) as s:
        page = await s.registry.ListStreets(
            registry_pb2.ListStreetsRequest(page_size=1), metadata=s.md, timeout=10
        )
        return len(page.streets)


async def refused(channel: aio.Channel) -> grpc.StatusCode:
    stub = health_pb2_grpc.HealthStub(channel)
    with pytest.raises(aio.AioRpcError) as caught:
        await stub.Check(health_pb2.HealthCheckRequest(), timeout=3)
    return caught.value.code()


async def test_a_service_given_a_certificate_answers_over_tls_to_callers_trusting_its_ca(
    secured: Secured,
) -> None:
    tls = ClientTls(ca_file=str(secured.ca.cert_file))
    async with aio.secure_channel(secured.address, tls.credentials()) as ch:
        assert await until_serving(ch) == SERVING
    assert await list_streets(secured.address, tls, secured.settings) >= 0
    # The blocking check (make status, the benchmarks) speaks TLS too when given credentials.
    assert await asyncio.to_thread(health_check, secured.address, "", 5.0, tls)
    assert not await asyncio.to_thread(health_check, secured.address, "", 5.0)


async def test_plaintext_and_callers_trusting_another_ca_are_refused(
    secured: Secured, tmp_path: Path
) -> None:
    async with aio.insecure_channel(secured.address) as ch:
        assert await refused(ch) == grpc.StatusCode.UNAVAILABLE
    stranger = Authority.make(tmp_path, "stranger")
    tls = ClientTls(ca_file=str(stranger.cert_file))
    async with aio.secure_channel(secured.address, tls.credentials()) as ch:
        assert await refused(ch) == grpc.StatusCode.UNAVAILABLE


async def test_the_health_port_answers_probes_in_plaintext_and_serves_no_api(
    secured: Secured,
) -> None:
    address = f"127.0.0.1:{secured.runtime.health_port}"
    async with aio.insecure_channel(address) as ch:
        assert await until_serving(ch) == SERVING
        assert await until_serving(ch, "liveness") == SERVING
        api = ch.unary_unary(
            "/linli.v1.RegistryService/ListStreets",
            request_serializer=registry_pb2.ListStreetsRequest.SerializeToString,
            response_deserializer=registry_pb2.ListStreetsResponse.FromString,
        )
        with pytest.raises(aio.AioRpcError) as caught:
            await api(registry_pb2.ListStreetsRequest(), timeout=5)
        assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_a_renewed_certificate_is_served_to_new_connections_without_a_restart(
    secured: Secured, tmp_path: Path
) -> None:
    renewed = Authority.make(tmp_path, "renewed")
    renewed.issue(secured.issued.cert, secured.issued.key)
    tls = ClientTls(ca_file=str(renewed.cert_file))
    status = -1
    for _ in range(100):  # the files are read at the next handshake: a new connection
        async with aio.secure_channel(secured.address, tls.credentials()) as ch:
            try:
                status = await until_serving(ch)
                break
            except aio.AioRpcError:
                await asyncio.sleep(0.1)
    assert status == SERVING
    old = ClientTls(ca_file=str(secured.ca.cert_file))
    async with aio.secure_channel(secured.address, old.credentials()) as ch:
        assert await refused(ch) == grpc.StatusCode.UNAVAILABLE


async def test_callers_find_their_ca_in_their_settings(
    secured: Secured, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert client_tls(ClientSettings()) is None  # no CA file: plaintext
    monkeypatch.setenv("LINLI_TLS_CA_FILE", str(secured.ca.cert_file))
    monkeypatch.setenv("LINLI_TLS_SERVER_NAME", "localhost")
    tls = client_tls()
    assert tls == ClientTls(ca_file=str(secured.ca.cert_file), server_name="localhost")
    assert await list_streets(secured.address, tls, secured.settings) >= 0


async def test_with_a_client_ca_only_callers_with_a_certificate_it_signed_get_in(
    servers: Servers, tmp_path: Path
) -> None:
    ca = Authority.make(tmp_path, "ca")
    issued = ca.issue(tmp_path / "tls.crt", tmp_path / "tls.key")
    callers = Authority.make(tmp_path, "callers")
    mine = callers.issue(tmp_path / "client.crt", tmp_path / "client.key", client=True)
    strangers = Authority.make(tmp_path, "strangers")
    theirs = strangers.issue(tmp_path / "other.crt", tmp_path / "other.key", client=True)
    settings = RegistrySettings(
        grpc_port=0,
        shutdown_grace_s=1.0,
        health_check_interval_s=0.2,
        tls_cert_file=str(issued.cert),
        tls_key_file=str(issued.key),
        tls_client_ca_file=str(callers.cert_file),
    )
    runtime = await start(servers, settings)
    address = f"127.0.0.1:{runtime.port}"
    try:
        anonymous = ClientTls(ca_file=str(ca.cert_file))
        async with aio.secure_channel(address, anonymous.credentials()) as ch:
            assert await refused(ch) == grpc.StatusCode.UNAVAILABLE
        other = ClientTls(str(ca.cert_file), str(theirs.cert), str(theirs.key))
        async with aio.secure_channel(address, other.credentials()) as ch:
            assert await refused(ch) == grpc.StatusCode.UNAVAILABLE
        tls = ClientTls(str(ca.cert_file), str(mine.cert), str(mine.key))
        async with aio.secure_channel(address, tls.credentials()) as ch:
            assert await until_serving(ch) == SERVING
        assert await list_streets(address, tls, settings) >= 0
    finally:
        await runtime.stop(grace=1.0)


async def test_a_key_that_is_not_the_certificates_stops_the_start(
    servers: Servers, tmp_path: Path
) -> None:
    ca = Authority.make(tmp_path, "ca")
    first = ca.issue(tmp_path / "a.crt", tmp_path / "a.key")
    second = ca.issue(tmp_path / "b.crt", tmp_path / "b.key")
    settings = RegistrySettings(
        grpc_port=0, tls_cert_file=str(first.cert), tls_key_file=str(second.key)
    )
    with pytest.raises(TlsConfigError, match="does not belong"):
        await start(servers, settings)


def test_a_half_renewed_pair_is_not_taken_until_the_certificate_matches_its_key(
    tmp_path: Path,
) -> None:
    ca = Authority.make(tmp_path, "ca")
    issued = ca.issue(tmp_path / "tls.crt", tmp_path / "tls.key")
    files = CertificateFiles(str(issued.cert), str(issued.key))
    assert files.first() is not None
    assert files() is None  # unchanged: gRPC keeps what it has
    renewed = ca.issue(tmp_path / "new.crt", tmp_path / "new.key")
    issued.key.write_bytes(renewed.key.read_bytes())  # the key lands first
    assert files() is None  # not the certificate's: the old pair stays
    issued.cert.write_bytes(renewed.cert.read_bytes())
    assert files() is not None  # both renewed: taken at this handshake
    assert files() is None
