"""TLS for the gRPC ports: server credentials that follow a rotated certificate on disk, and the
channel credentials a caller trusts the services with (docs/deploy.md, "TLS")."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from grpc import aio

log = logging.getLogger(__name__)


class TlsConfigError(ValueError):
    """A certificate, key or CA file that cannot be used as configured."""


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise TlsConfigError(f"{what} {path!r} cannot be read: {e.strerror}") from None


def _check_pair(cert: bytes, key: bytes) -> None:
    """The key is the certificate's: a half-rotated pair would fail every handshake."""
    try:
        leaf = x509.load_pem_x509_certificates(cert)[0]
        private = serialization.load_pem_private_key(key, password=None)
    except ValueError as e:
        raise TlsConfigError(f"not a PEM certificate and unencrypted key: {e}") from None
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    encoding = serialization.Encoding.DER
    if leaf.public_key().public_bytes(encoding, public) != private.public_key().public_bytes(
        encoding, public
    ):
        raise TlsConfigError("the key does not belong to the certificate")


@dataclass
class CertificateFiles:
    """The server's certificate chain, key and (for mutual TLS) client CA, read from files and
    read again when they change. gRPC asks `__call__` at every new handshake, so a certificate
    renewed in place (a Kubernetes Secret volume, cert-manager) is served from the next
    connection on, without a restart; connections already open keep theirs."""

    cert_file: str
    key_file: str
    client_ca_file: str | None = None
    _seen: tuple[tuple[int, int, int], ...] = field(default=(), init=False)

    def _stamp(self) -> tuple[tuple[int, int, int], ...]:
        """What tells a changed file: its time, and its inode and size, for file systems whose
        times are coarse (a Secret volume swaps in new files, with new inodes)."""
        files = [self.cert_file, self.key_file]
        if self.client_ca_file:
            files.append(self.client_ca_file)
        try:
            stats = [os.stat(f) for f in files]
        except OSError:
            return self._seen  # a file being swapped: keep what we have, look again next time
        return tuple((s.st_mtime_ns, s.st_ino, s.st_size) for s in stats)

    def load(self) -> grpc.ServerCertificateConfiguration:
        cert = _read(self.cert_file, "certificate")
        key = _read(self.key_file, "key")
        _check_pair(cert, key)
        ca = _read(self.client_ca_file, "client CA") if self.client_ca_file else None
        return grpc.ssl_server_certificate_configuration([(key, cert)], root_certificates=ca)

    def first(self) -> grpc.ServerCertificateConfiguration:
        self._seen = self._stamp()
        return self.load()

    def __call__(self) -> grpc.ServerCertificateConfiguration | None:
        stamp = self._stamp()
        if stamp == self._seen:
            return None  # unchanged: gRPC keeps the current configuration
        try:
            config = self.load()
        except TlsConfigError as e:
            # Half-written (the key before its certificate): keep serving the old pair and
            # look again at the next handshake.
            log.warning("new TLS certificate not taken yet: %s", e)
            return None
        self._seen = stamp
        log.info("TLS certificate reloaded from %s", self.cert_file)
        return config


def server_credentials(
    cert_file: str, key_file: str, client_ca_file: str | None = None
) -> grpc.ServerCredentials:
    """Credentials for a secure port; with a client CA, callers must present a certificate it
    signed (mutual TLS). Raises TlsConfigError at once when the files are unusable."""
    files = CertificateFiles(cert_file, key_file, client_ca_file)
    return grpc.dynamic_ssl_server_credentials(
        files.first(), files, require_client_authentication=client_ca_file is not None
    )


@dataclass(frozen=True)
class ClientTls:
    """How a caller reaches the services: the CA it trusts them with, and (for mutual TLS) its
    own certificate and key. `server_name` overrides the name checked against the services'
    certificates, for addresses that are not the name they were issued for."""

    ca_file: str
    cert_file: str | None = None
    key_file: str | None = None
    server_name: str | None = None

    def credentials(self) -> grpc.ChannelCredentials:
        ca = _read(self.ca_file, "CA")
        cert = _read(self.cert_file, "certificate") if self.cert_file else None
        key = _read(self.key_file, "key") if self.key_file else None
        if (cert is None) != (key is None):
            raise TlsConfigError("a client certificate needs its key, and the key its certificate")
        if cert is not None and key is not None:
            _check_pair(cert, key)
        return grpc.ssl_channel_credentials(ca, key, cert)

    def options(self) -> list[tuple[str, str]]:
        return [("grpc.ssl_target_name_override", self.server_name)] if self.server_name else []


def channel(
    address: str,
    tls: ClientTls | None = None,
    interceptors: Sequence[aio.ClientInterceptor] | None = None,
) -> aio.Channel:
    """An asyncio channel to a service: TLS when `tls` is given, plaintext otherwise."""
    if tls is None:
        return aio.insecure_channel(address, interceptors=interceptors)
    return aio.secure_channel(
        address, tls.credentials(), options=tls.options(), interceptors=interceptors
    )
