"""The settings every service shares (`Settings`), read from LINLI_* environment variables."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated, Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from services.common.eventkeys import EventKeyError, KeyRing
from services.common.service_list import (
    AFFAIRS,
    BY_NAME,
    IDENTITY,
    MATCHING,
    NOTIFICATIONS,
    POINTS,
    REGISTRY,
    TASKS,
)
from services.common.streamspec import StreamSpec
from services.common.values import OVERBOOK_MIN_HEADCOUNT

# A key only for local development and tests; deployments set LINLI_JWT_SECRET from a Secret.
DEV_JWT_SECRET = "linli-local-development-signing-key-not-for-production"
# The event key ring for local development and tests (b"linli-dev-event-key-not-secret!!"):
# deployments set LINLI_EVENT_KEYS and LINLI_EVENT_KEY_ID from a Secret.
DEV_EVENT_KEY = "bGlubGktZGV2LWV2ZW50LWtleS1ub3Qtc2VjcmV0ISE="
DEV_EVENT_KEYS = f"dev:{DEV_EVENT_KEY}"
# Algorithms a token may be signed with when its key comes from a JWKS: asymmetric only, so that
# a published public key can never serve as an HMAC secret (the algorithm-confusion attack).
ASYMMETRIC_ALGORITHMS = frozenset(
    {"ES256", "ES384", "ES512", "EdDSA", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
)

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
    # TLS on the gRPC port (docs/deploy.md, "TLS"): a PEM certificate chain and its key, read
    # again when they change on disk; with a client CA, callers must present a certificate it
    # signed (mutual TLS). Unset: plaintext.
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    tls_client_ca_file: str | None = None
    # A plaintext port answering only grpc.health.v1, for probes that cannot speak TLS (the
    # kubelet's gRPC probes). Unset: none; 0: a free port.
    health_port: int | None = Field(None, ge=0, le=65535)
    shutdown_grace_s: float = Field(10.0, ge=0)
    health_check_interval_s: float = Field(2.0, gt=0)

    # A one-off event is over-booked only when it asks at least this many people: the task
    # service and matching read the same setting, so a role it accepts is one matching plans.
    overbook_min_headcount: int = Field(OVERBOOK_MIN_HEADCOUNT, ge=2, le=10_000)

    db_pool_min: int = Field(2, ge=1)
    db_pool_max: int = Field(10, ge=1)

    # -- tokens (docs/security.md, "Tokens") --
    # HS256 with this key is accepted in dev mode only (`linli token`, the tests); it also
    # derives the page-token key below.
    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    # The identity service's tokens: their issuer and audience, and where its public keys are.
    jwt_issuer: str = "linli"
    jwt_audience: str = "linli"
    jwks_url: str | None = None
    # Algorithms accepted from a JWKS (comma-separated): asymmetric ones only.
    jwt_algorithms: Annotated[tuple[str, ...], NoDecode] = ("ES256", "EdDSA")
    # Clock skew tolerated on exp, nbf and iat.
    jwt_leeway_s: float = Field(0.0, ge=0, le=300)
    # The longest lifetime of an access token any trusted issuer gives: a revocation older than
    # this covers no live token any more and is pruned.
    revocation_keep_s: float = Field(86_400.0, gt=0)
    # Replicas of a service share one durable consumer, so each event reaches one of them: the
    # others read it from their shared table this often.
    revocation_reload_s: float = Field(10.0, gt=0)
    # Keys older than this are refreshed in the background (the old ones serve meanwhile).
    jwks_cache_s: float = Field(300.0, gt=0)
    # A token naming an unknown key id triggers a refetch at most this often: a flood of made-up
    # key ids costs the identity service one request per period.
    jwks_refetch_min_s: float = Field(5.0, ge=0, le=300)
    # While the key source is away the keys last fetched keep serving, for at most this long.
    jwks_max_stale_s: float = Field(86_400.0, gt=0)
    jwks_timeout_s: float = Field(5.0, gt=0, le=60)
    # An external OpenID Connect issuer trusted beside (or instead of) the identity service: its
    # keys are found through `<issuer>/.well-known/openid-configuration`.
    oidc_issuer: str | None = None
    # The audience its tokens must name (unset: jwt_audience).
    oidc_audience: str | None = None
    # Which of its claims name the principal, the role and the scope (dotted paths reach into
    # objects, e.g. `realm_access.roles`), and its role values as Linli roles
    # ("idp-value=linli_role,..."; unset: the values are Linli's own role names).
    oidc_subject_claim: str = "sub"
    oidc_role_claim: str = "role"
    oidc_communities_claim: str = "communities"
    oidc_streets_claim: str = "streets"
    oidc_roles: Annotated[tuple[tuple[str, str], ...], NoDecode] = ()
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
    # JSON lines (one object per record) by default; "console" for people reading a terminal,
    # which dev mode picks unless this is set (services/common/logs.py).
    log_format: Literal["json", "console"] | None = None
    # Prometheus metrics over HTTP at /metrics (services/common/metrics.py). Unset host: the gRPC
    # host. Port 0: a free one; -1: none. A service on a free gRPC port (tests) gets a free
    # metrics port too unless one is given.
    metrics_host: str | None = None
    metrics_port: int = Field(0, ge=-1, le=65535)
    # Local development (make up, the demo): allows the development signing key and a clock file.
    dev_mode: bool = False
    # A file holding seconds to add to the real time (demo only; see services/common/clock.py).
    clock_file: str | None = None
    # Pause between reporting NOT_SERVING and refusing new calls, so that load balancers and
    # Kubernetes see it first. Zero locally; a few seconds in a cluster.
    shutdown_drain_s: float = Field(0.0, ge=0)

    @field_validator("jwt_algorithms", mode="before")
    @classmethod
    def _algorithms(cls, value: object) -> object:
        names = _split(value)
        if not isinstance(names, tuple):
            return names
        refused = [n for n in names if n not in ASYMMETRIC_ALGORITHMS]
        if refused or not names:
            allowed = ", ".join(sorted(ASYMMETRIC_ALGORITHMS))
            raise ValueError(f"not an asymmetric algorithm: {refused or 'none given'} ({allowed})")
        return names

    @field_validator("oidc_roles", mode="before")
    @classmethod
    def _roles(cls, value: object) -> object:
        pairs = _split(value)
        if not isinstance(pairs, tuple):
            return pairs
        found = []
        for pair in pairs:
            if not isinstance(pair, str):
                found.append(tuple(pair))
                continue
            given, sep, role = pair.partition("=")
            if not sep or not given.strip() or not role.strip():
                raise ValueError(f"{pair!r} is not 'idp-value=linli_role'")
            found.append((given.strip(), role.strip()))
        return tuple(found)

    @model_validator(mode="after")
    def _free_metrics_port_with_a_free_grpc_port(self) -> Settings:
        if self.grpc_port == 0 and "metrics_port" not in self.model_fields_set:
            self.metrics_port = 0
        return self

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
    # Traces (services/common/tracing.py): exported by OTLP/gRPC to this collector when set, e.g.
    # http://otel-collector:4317 (https:// for TLS); unset, tracing is off and costs nothing.
    otlp_endpoint: str | None = None
    # The share of new traces kept (a caller's sampled trace context is always followed).
    trace_sample_ratio: float = Field(1.0, ge=0, le=1)

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
        if bool(self.tls_cert_file) != bool(self.tls_key_file):
            raise SystemExit("LINLI_TLS_CERT_FILE and LINLI_TLS_KEY_FILE are set together")
        if self.tls_client_ca_file and not self.tls_cert_file:
            raise SystemExit("LINLI_TLS_CLIENT_CA_FILE needs LINLI_TLS_CERT_FILE and its key")
        if not self.dev_mode and not self.jwks_url and not self.oidc_issuer:
            raise SystemExit(
                "no way to verify tokens: set LINLI_JWKS_URL (the identity service's keys) "
                "or LINLI_OIDC_ISSUER (dev mode alone accepts LINLI_JWT_SECRET's tokens)"
            )
        if self.jwks_url and self.oidc_issuer and self.oidc_issuer == self.jwt_issuer:
            raise SystemExit("LINLI_OIDC_ISSUER must differ from LINLI_JWT_ISSUER")


def _split(value: object) -> object:
    """A comma-separated environment value as a tuple of its trimmed parts."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, list):
        return tuple(value)
    return value


def _port(service: str, default: int) -> int:
    """A service's port field: LINLI_<SERVICE>_PORT, or LINLI_GRPC_PORT in its own container."""
    setting = BY_NAME[service].port_setting
    return Field(  # type: ignore[no-any-return]
        default, validation_alias=AliasChoices(setting, "LINLI_GRPC_PORT")
    )


def _metrics_port(service: str) -> int:
    """A service's metrics port: LINLI_<SERVICE>_METRICS_PORT, or LINLI_METRICS_PORT in its own
    container."""
    spec = BY_NAME[service]
    return Field(  # type: ignore[no-any-return]
        spec.default_metrics_port,
        ge=-1,
        le=65535,
        validation_alias=AliasChoices(spec.metrics_port_setting, "LINLI_METRICS_PORT"),
    )


REGISTRY_PORT, TASKS_PORT, MATCHING_PORT, IDENTITY_PORT, POINTS_PORT, AFFAIRS_PORT = (
    s.default_port for s in (REGISTRY, TASKS, MATCHING, IDENTITY, POINTS, AFFAIRS)
)
NOTIFICATIONS_PORT = NOTIFICATIONS.default_port
