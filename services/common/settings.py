"""Typed settings from LINLI_* environment variables: the only place that reads the environment."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.eventkeys import EventKeyError, KeyRing
from services.common.service_list import BY_NAME, IDENTITY, MATCHING, REGISTRY, TASKS
from services.common.streamspec import StreamSpec

# A key only for local development and tests; deployments set LINLI_JWT_SECRET from a Secret.
DEV_JWT_SECRET = "linli-local-development-signing-key-not-for-production"
# The event key ring for local development and tests (b"linli-dev-event-key-not-secret!!"):
# deployments set LINLI_EVENT_KEYS and LINLI_EVENT_KEY_ID from a Secret.
DEV_EVENT_KEY = "bGlubGktZGV2LWV2ZW50LWtleS1ub3Qtc2VjcmV0ISE="
DEV_EVENT_KEYS = f"dev:{DEV_EVENT_KEY}"
# The key that seals the identity service's secrets at rest (signing keys, TOTP seeds) for local
# development and tests (b"linli-dev-identity-key-not-secre"): deployments set
# LINLI_IDENTITY_SECRETS_KEY from a Secret.
DEV_IDENTITY_KEY = "bGlubGktZGV2LWlkZW50aXR5LWtleS1ub3Qtc2VjcmU="


class Bounds(BaseModel):
    """The district's bounding box; every location Linli accepts lies inside it."""

    min_lat: float = 36.90
    min_lng: float = 117.05
    max_lat: float = 37.06
    max_lng: float = 117.30

    def contains(self, lat: float, lng: float) -> bool:
        return self.min_lat <= lat <= self.max_lat and self.min_lng <= lng <= self.max_lng


class Settings(BaseSettings):
    """What every service shares. Each service subclasses it with its own port and name."""

    model_config = SettingsConfigDict(
        env_prefix="LINLI_", env_nested_delimiter="__", populate_by_name=True
    )

    service_name: str = "linli"
    # Unset means: start (or reuse) the local servers under state_dir (development only).
    database_url: str | None = None
    nats_url: str | None = None
    state_dir: str = ".linli"

    grpc_host: str = "127.0.0.1"
    grpc_port: int = 0
    shutdown_grace_s: float = Field(10.0, ge=0)
    health_check_interval_s: float = Field(2.0, gt=0)

    db_pool_min: int = Field(2, ge=1)
    db_pool_max: int = Field(10, ge=1)

    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    jwt_issuer: str = "linli"
    jwt_audience: str = "linli"
    # Signs page tokens. Unset: a key derived from jwt_secret, so that every replica of a service
    # accepts the tokens of the others without another Secret to deploy.
    page_token_secret: SecretStr | None = None

    stream_name: str = "LINLI"
    relay_batch: int = Field(256, ge=1, le=10_000)
    relay_idle_poll_s: float = Field(1.0, gt=0)
    # How long sent outbox rows are kept: the relay can republish them if NATS loses its data.
    outbox_retention_days: int = Field(7, ge=1, le=365)
    # Keys that seal event payloads: "kid:base64key,kid:base64key" (32-byte AES-256 keys). Every
    # kid still on the stream must stay here; event_key_id names the one new events are sealed with.
    event_keys: SecretStr = SecretStr(DEV_EVENT_KEYS)
    event_key_id: str = "dev"

    bounds: Bounds = Bounds()
    log_level: str = "INFO"
    # Local development (make up, the demo): allows the development signing key and a clock file.
    dev_mode: bool = False
    # A file holding seconds to add to the real time (demo only; see services/common/clock.py).
    clock_file: str | None = None
    # Pause between reporting NOT_SERVING and refusing new calls, so that load balancers and
    # Kubernetes see it first. Zero locally; a few seconds in a cluster.
    shutdown_drain_s: float = Field(0.0, ge=0)

    def page_token_key(self) -> bytes:
        if self.page_token_secret is not None:
            return self.page_token_secret.get_secret_value().encode()
        # A key of its own purpose: a page token never helps to forge a JWT, nor the reverse.
        secret = self.jwt_secret.get_secret_value().encode()
        return hmac.new(secret, b"linli page tokens", hashlib.sha256).digest()

    # -- the runtime under faults (services/common/runtime/; docs/runtime.md) --
    # Restart pauses of a supervised background loop: doubling from min to max.
    loop_restart_min_s: float = Field(0.5, gt=0)
    loop_restart_max_s: float = Field(30.0, gt=0)
    # A loop that has kept failing this long makes the service not ready (it cannot do its job);
    # one failing for loop_dead_after_s, or a health loop that stopped ticking, makes it not live.
    loop_failing_limit_s: float = Field(60.0, gt=0)
    loop_dead_after_s: float = Field(300.0, gt=0)
    # Event delivery counts as behind (health "linli.events" NOT_SERVING, never readiness) once
    # the outbox relay has failed to publish for this long.
    events_behind_after_s: float = Field(30.0, gt=0)
    # JetStream stream LINLI: created with these settings, and updated when they change.
    stream_replicas: int = Field(1, ge=1, le=5)
    stream_storage: Literal["file", "memory"] = "file"
    # Zero or less: no limit. Consumers replay from the start, so limits are set with care.
    stream_max_age_s: float = Field(0.0, ge=0)
    stream_max_bytes: int = Field(-1, ge=-1)
    stream_duplicate_window_s: float = Field(120.0, gt=0)
    # NATS credentials: a user and password, or a credentials file (JWT and nkey seed).
    nats_user: str | None = None
    nats_password: SecretStr | None = None
    nats_creds_file: str | None = None

    def stream_spec(self) -> StreamSpec:
        return StreamSpec(
            name=self.stream_name,
            replicas=self.stream_replicas,
            storage=self.stream_storage,
            max_age_s=self.stream_max_age_s,
            max_bytes=self.stream_max_bytes,
            duplicate_window_s=self.stream_duplicate_window_s,
        )

    def nats_auth(self) -> dict[str, str]:
        """Keyword arguments for nats.connect carrying this service's credentials."""
        found: dict[str, str] = {}
        if self.nats_user:
            found["user"] = self.nats_user
        if self.nats_password is not None:
            found["password"] = self.nats_password.get_secret_value()
        if self.nats_creds_file:
            found["user_credentials"] = self.nats_creds_file
        return found

    def refuse_unsafe(self) -> None:
        """Stop a process that would accept tokens anyone can sign."""
        secret = self.jwt_secret.get_secret_value()
        if secret == DEV_JWT_SECRET and not self.dev_mode:
            raise SystemExit(
                "LINLI_JWT_SECRET is the published development key: set a secret "
                "of your own (or LINLI_DEV_MODE=true on a developer's machine)"
            )
        if len(secret.encode()) < 32:
            raise SystemExit("LINLI_JWT_SECRET must be at least 32 bytes")
        try:
            KeyRing.from_settings(self)
        except EventKeyError as e:
            raise SystemExit(f"LINLI_EVENT_KEYS / LINLI_EVENT_KEY_ID: {e}") from None
        if DEV_EVENT_KEY in self.event_keys.get_secret_value() and not self.dev_mode:
            raise SystemExit(
                "LINLI_EVENT_KEYS holds the published development key: set keys of your own "
                "(or LINLI_DEV_MODE=true on a developer's machine)"
            )
        if self.clock_file and not self.dev_mode:
            raise SystemExit("LINLI_CLOCK_FILE moves the service's time: dev mode only")


def _port(service: str, default: int) -> int:
    """A service's port field: LINLI_<SERVICE>_PORT, or LINLI_GRPC_PORT in its own container."""
    setting = BY_NAME[service].port_setting
    return Field(  # type: ignore[no-any-return]
        default, validation_alias=AliasChoices(setting, "LINLI_GRPC_PORT")
    )


REGISTRY_PORT, TASKS_PORT, MATCHING_PORT, IDENTITY_PORT = (
    s.default_port for s in (REGISTRY, TASKS, MATCHING, IDENTITY)
)


class RegistrySettings(Settings):
    service_name: str = "registry"
    grpc_port: int = _port("registry", REGISTRY_PORT)
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
    # Limits of a district file: bytes, nesting depth (the format needs about 12).
    district_file_max_bytes: int = Field(4_000_000, ge=1000)
    district_file_max_depth: int = Field(24, ge=8)
    # Rows of one ImportMembers stream: all are received before any is written.
    import_members_max_rows: int = Field(20_000, ge=1)


class TasksSettings(Settings):
    service_name: str = "tasks"
    grpc_port: int = _port("tasks", TASKS_PORT)
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


class IdentitySettings(Settings):
    service_name: str = "identity"
    grpc_port: int = _port("identity", IDENTITY_PORT)
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
    registry_port: int | None = None
    tasks_port: int | None = None
    matching_port: int | None = None
    identity_port: int | None = None
    state_dir: str = ".linli"

    def address(self, service: str) -> str | None:
        return getattr(self, f"{service}_address")  # type: ignore[no-any-return]

    def port(self, service: str) -> int | None:
        return getattr(self, f"{service}_port")  # type: ignore[no-any-return]
