"""What a caller of the services reads: its token and where the services are."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ClientSettings(BaseSettings):
    """What a caller of the services reads (the linli command, the report, the demo): its token
    and where the services are (see services/client)."""

    model_config = SettingsConfigDict(env_prefix="LINLI_", extra="ignore")

    token: str | None = None
    # A service account's credentials (scheduled runs, `linli report`): the caller signs in
    # through the identity service with them when no token is given.
    client_id: str | None = None
    client_secret: SecretStr | None = None
    registry_address: str | None = None
    tasks_address: str | None = None
    matching_address: str | None = None
    identity_address: str | None = None
    notifications_address: str | None = None
    points_address: str | None = None
    affairs_address: str | None = None
    registry_port: int | None = None
    tasks_port: int | None = None
    matching_port: int | None = None
    identity_port: int | None = None
    notifications_port: int | None = None
    points_port: int | None = None
    affairs_port: int | None = None
    state_dir: str = ".linli"
    # TLS to the services: the CA that signed their certificates; for mutual TLS, this caller's
    # own certificate and key; and the name to check when the address is not the certificate's.
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    tls_server_name: str | None = None

    def address(self, service: str) -> str | None:
        return getattr(self, f"{service}_address")  # type: ignore[no-any-return]

    def port(self, service: str) -> int | None:
        return getattr(self, f"{service}_port")  # type: ignore[no-any-return]
