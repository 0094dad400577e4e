"""Each service's own settings, on top of the shared ones."""

from __future__ import annotations

import base64

from pydantic import Field, SecretStr

from services.common.settings.base import (
    DEV_IDENTITY_KEY,
    IDENTITY_PORT,
    MATCHING_PORT,
    REGISTRY_PORT,
    TASKS_PORT,
    Settings,
    _metrics_port,
    _port,
)
from services.common.sms.config import SmsSettings


class RegistrySettings(Settings):
    service_name: str = "registry"
    grpc_port: int = _port("registry", REGISTRY_PORT)
    metrics_port: int = _metrics_port("registry")
    # Phone changes asked for in 24 hours, per member and per caller (RESOURCE_EXHAUSTED beyond);
    # they bound how fast anyone can probe which numbers are registered.
    phone_changes_per_member_per_day: int = Field(5, ge=1)
    phone_changes_per_caller_per_day: int = Field(50, ge=1)
    # Registrations by staff and street administrators refused for a taken phone, per caller in
    # 24 hours; district administrators and services (bulk loads) are not limited.
    phone_conflicts_per_caller_per_day: int = Field(20, ge=1)
    # How long the code sent for a member's own phone change stays valid, and how many wrong
    # codes drop the change.
    phone_code_ttl_s: float = Field(600.0, gt=0)
    phone_code_attempts: int = Field(5, ge=1)
    # The SMS provider the codes go through (LINLI_SMS__PROVIDER, ...; docs/sms.md).
    sms: SmsSettings = SmsSettings()
    # Limits of a district file: bytes, nesting depth (the format needs about 12).
    district_file_max_bytes: int = Field(4_000_000, ge=1000)
    district_file_max_depth: int = Field(24, ge=8)
    # Rows of one ImportMembers stream: all are received before any is written.
    import_members_max_rows: int = Field(20_000, ge=1)


class TasksSettings(Settings):
    service_name: str = "tasks"
    grpc_port: int = _port("tasks", TASKS_PORT)
    metrics_port: int = _metrics_port("tasks")
    # How long a proposal from matching holds a place before it expires unanswered.
    proposal_ttl_s: float = Field(24 * 3600, gt=0)
    # How far ahead a volunteer role's occurrences exist as tasks.
    role_horizon_days: int = Field(28, ge=1, le=366)
    # How often expiry and role generation run.
    sweep_interval_s: float = Field(5.0, gt=0)
    # How far ahead a wish's or a one-off event's window may lie.
    posting_horizon_days: int = Field(366, ge=1, le=3 * 366)


class MatchingSettings(Settings):
    service_name: str = "matching"
    grpc_port: int = _port("matching", MATCHING_PORT)
    metrics_port: int = _metrics_port("matching")
    # Offer a declined or expired place to the next best member at once.
    reoffer: bool = True
    # The durable JetStream consumer that feeds the read model.
    durable: str = "matching"
    # Runs planned at once by one process; more are refused (RESOURCE_EXHAUSTED) to be retried.
    max_concurrent_runs: int = Field(3, ge=1, le=32)
    # The retry delay suggested with that refusal.
    run_retry_after_s: float = Field(5.0, gt=0)
    # A running run's process renews its lease every third of this; a run whose lease lapsed
    # (its process is gone) is marked failed.
    run_lease_s: float = Field(30.0, ge=3)
    # How long a call waits for the read model to see a task or member it names (just posted,
    # just registered) before answering that it is not there.
    read_model_wait_s: float = Field(3.0, ge=0, le=30)
    # A one-off event is over-booked (within its role's cap) only when it asks at least this
    # many people: small tasks and wishes for one resident never are.
    overbook_min_headcount: int = Field(20, ge=2, le=10_000)


class IdentitySettings(Settings):
    service_name: str = "identity"
    grpc_port: int = _port("identity", IDENTITY_PORT)
    metrics_port: int = _metrics_port("identity")
    # Sign-in codes go out through this provider (docs/sms.md).
    sms: SmsSettings = SmsSettings()
    # The HTTP port that serves /.well-known/jwks.json (0: any free port, as in tests).
    identity_http_host: str = "127.0.0.1"
    identity_http_port: int = Field(50064, ge=0, le=65535)
    # The durable JetStream consumer that feeds the read model of communities and members.
    durable: str = "identity"
    # Seals signing keys and TOTP seeds in the database: base64 of 32 bytes (AES-256-GCM).
    identity_secrets_key: SecretStr = SecretStr(DEV_IDENTITY_KEY)
    # Lifetimes of the tokens issued.
    access_ttl_s: int = Field(15 * 60, ge=30, le=24 * 3600)
    refresh_ttl_s: int = Field(30 * 24 * 3600, ge=300)
    service_token_ttl_s: int = Field(3600, ge=30, le=24 * 3600)
    # How long a retired signing key stays published beyond the access tokens it signed.
    key_grace_s: int = Field(300, ge=0)
    # How often a replica reloads the signing keys (another replica may have rotated).
    key_reload_s: float = Field(60.0, gt=0)
    # Failed sign-ins (password, TOTP or SMS code) per user name or phone before a lock-out,
    # and how long the lock-out (and the window the failures are counted in) lasts.
    sign_in_failures_limit: int = Field(5, ge=1)
    lockout_s: int = Field(15 * 60, ge=1)
    # Sign-in codes by SMS: lifetime, and how many may be asked per phone and per caller in
    # code_window_s.
    phone_code_ttl_s: int = Field(300, ge=30, le=3600)
    phone_codes_per_phone: int = Field(5, ge=1)
    phone_codes_per_caller: int = Field(100, ge=1)
    phone_code_window_s: int = Field(3600, ge=60)
    # The issuer name shown by authenticator apps.
    totp_issuer: str = "Linli"

    def refuse_unsafe(self) -> None:
        super().refuse_unsafe()
        try:
            key = base64.b64decode(self.identity_secrets_key.get_secret_value(), validate=True)
        except ValueError:
            key = b""
        if len(key) != 32:
            raise SystemExit("LINLI_IDENTITY_SECRETS_KEY must be base64 of 32 random bytes")
        if self.identity_secrets_key.get_secret_value() == DEV_IDENTITY_KEY and not self.dev_mode:
            raise SystemExit(
                "LINLI_IDENTITY_SECRETS_KEY is the published development key: set a key of "
                "your own (or LINLI_DEV_MODE=true on a developer's machine)"
            )
