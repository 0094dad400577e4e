"""Each service's own settings, on top of the shared ones."""

from __future__ import annotations

import base64
from typing import Annotated, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from services.common.settings.base import (
    AFFAIRS_PORT,
    DEV_IDENTITY_KEY,
    IDENTITY_PORT,
    MATCHING_PORT,
    NOTIFICATIONS_PORT,
    POINTS_PORT,
    REGISTRY_PORT,
    TASKS_PORT,
    Settings,
    _metrics_port,
    _port,
    _split,
)
from services.common.settings.client import ClientSettings
from services.common.settings.points import PointsRules
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
    # How long before a verified certificate expires its member and their community's staff
    # are reminded (CertificateExpiring, once per certificate), and how often the registry
    # looks for certificates to remind of or to end.
    certificate_reminder_days: int = Field(30, ge=1, le=366)
    certificate_sweep_interval_s: float = Field(60.0, gt=0)


# The key of check-in codes for local development and tests; deployments set
# LINLI_ATTENDANCE__CODE_KEY from a Secret.
DEV_CHECK_IN_KEY = "linli-dev-check-in-code-key-not-secret"


class AttendanceSettings(BaseModel):
    """Check-in on site (LINLI_ATTENDANCE__*): the codes, the windows, the geofence."""

    # Signs the rotating check-in codes (HMAC-SHA256): at least 32 bytes.
    code_key: SecretStr = SecretStr(DEV_CHECK_IN_KEY)
    # How often a code changes; the previous step's code is still accepted.
    step_s: int = Field(45, ge=30, le=60)
    # Check-in is open from this long before a task's start to this long after it.
    check_in_before_min: int = Field(60, ge=0, le=24 * 60)
    check_in_after_min: int = Field(30, ge=0, le=24 * 60)
    # Check-out is open from the start to this long after the end.
    check_out_after_end_min: int = Field(120, ge=0, le=24 * 60)
    # How far from a task's place a member may be to check in.
    geofence_m: float = Field(200.0, gt=0, le=5000)


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
    # Confirm or release: an accepted place is asked this long before its start, the answer is
    # due this long after the asking (never after the start), and with none the role's policy
    # applies (this one for wishes and roles that name none): "alert" staff, or "release".
    confirm_before_h: float = Field(48.0, gt=0, le=30 * 24)
    answer_within_h: float = Field(24.0, gt=0, le=30 * 24)
    no_answer_policy: Literal["alert", "release"] = "alert"
    # Staff are told once when a task comes this close to its start with places still empty; a
    # place taken within it was hard to fill (points give a bonus for it).
    empty_alert_horizon_h: float = Field(48.0, gt=0, le=30 * 24)
    # How often the reminder loop (confirmations, empty places) runs.
    reminder_interval_s: float = Field(10.0, gt=0)
    # How long a calendar keeps a cancelled task or a place given up (STATUS:CANCELLED).
    calendar_keep_days: int = Field(30, ge=1, le=366)
    # Check-in codes and hours (docs/attendance.md).
    attendance: AttendanceSettings = AttendanceSettings()

    def refuse_unsafe(self) -> None:
        super().refuse_unsafe()
        key = self.attendance.code_key.get_secret_value()
        if len(key.encode()) < 32:
            raise SystemExit("LINLI_ATTENDANCE__CODE_KEY must be at least 32 bytes")
        if key == DEV_CHECK_IN_KEY and not self.dev_mode:
            raise SystemExit(
                "LINLI_ATTENDANCE__CODE_KEY is the published development key: set a key of "
                "your own (or LINLI_DEV_MODE=true on a developer's machine)"
            )


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


class WeChatSettings(BaseModel):
    """WeChat subscription messages (LINLI_WECHAT__*): the mini program's appid and
    secret, the API's base URL (a local server in tests and dev), and the approved template id of
    each kind of item (docs/notifications.md). Off while `appid` is empty."""

    appid: str = ""
    secret: SecretStr = SecretStr("")
    base_url: str = "https://api.weixin.qq.com"
    # Item kinds ("reminder", "task_cancelled", ...) to approved template ids; a kind without one
    # is not sent by WeChat.
    templates: dict[str, str] = Field(default_factory=dict)
    # The mini program page a message opens.
    page: str = "pages/inbox/index"
    timeout_s: float = Field(5.0, gt=0, le=60)


class NotificationsSettings(Settings):
    service_name: str = "notifications"
    grpc_port: int = _port("notifications", NOTIFICATIONS_PORT)
    metrics_port: int = _metrics_port("notifications")
    # The durable JetStream consumer that writes the inboxes.
    durable: str = "notifications"
    # Reminders before each accepted task: seconds before its start, one reminder per offset
    # (LINLI_REMIND_BEFORE_S=86400,7200 for a day and two hours before).
    remind_before_s: Annotated[tuple[float, ...], NoDecode] = (24 * 3600.0,)
    # Quiet hours, local time (HH:MM; the start may be after the end: across midnight).
    quiet_start: str = "22:00"
    quiet_end: str = "07:00"
    # Items pushed to a member per local day beyond urgent ones; the rest wait for a digest.
    daily_budget: int = Field(8, ge=1, le=1000)
    # How long before its start a changed or cancelled task makes the item urgent.
    urgent_within_s: float = Field(24 * 3600.0, gt=0)
    # How often reminders, digests and deliveries are looked for.
    scheduler_interval_s: float = Field(5.0, gt=0)
    # Followers look for new items at least this often, whatever the wake-ups say.
    follow_poll_s: float = Field(5.0, gt=0)
    # Channel deliveries: attempts before one is given up, and the pause after a failure
    # (doubling up to delivery_backoff_max_s).
    delivery_attempts: int = Field(12, ge=1, le=100)
    delivery_backoff_s: float = Field(5.0, ge=0)
    delivery_backoff_max_s: float = Field(900.0, ge=0)
    # SMS through the provider of LINLI_SMS__* (docs/sms.md); WeChat as above.
    sms: SmsSettings = SmsSettings()
    wechat: WeChatSettings = WeChatSettings()

    @field_validator("remind_before_s", mode="before")
    @classmethod
    def _offsets(cls, value: object) -> object:
        offsets = _split(value)
        if isinstance(offsets, tuple) and not all(float(o) > 0 for o in offsets):
            raise ValueError("each reminder offset is a positive number of seconds")
        return offsets


# The console's cookie key for local development and tests (b"linli-dev-console-key-not-secret"):
# deployments set LINLI_CONSOLE_SESSION_KEY from a Secret.
DEV_CONSOLE_KEY = "bGlubGktZGV2LWNvbnNvbGUta2V5LW5vdC1zZWNyZXQ="
CONSOLE_PORT = 8090
CONSOLE_METRICS_PORT = 9108


class ConsoleSettings(ClientSettings):
    """The staff console (services/console): where it listens, the key that seals its session
    cookies, and, as every caller, where the services are."""

    service_name: str = "console"
    console_host: str = "127.0.0.1"
    console_port: int = Field(CONSOLE_PORT, ge=0, le=65535)
    # Prometheus metrics at /metrics on a port of its own (0: a free one; -1: none).
    metrics_host: str | None = None
    metrics_port: int = Field(CONSOLE_METRICS_PORT, ge=-1, le=65535)
    # HTTPS: with tls_cert_file and tls_key_file (ClientSettings' own, which the console also
    # presents to the services when they ask for a client certificate), the console serves TLS.
    # Seals the signed-in user's tokens into the session cookie: base64 of 32 bytes (AES-256-GCM).
    console_session_key: SecretStr = SecretStr(DEV_CONSOLE_KEY)
    # Secure cookies (HTTPS only). Unset: on, except in dev mode on a loopback address, where the
    # browser speaks plain HTTP to 127.0.0.1.
    console_secure_cookies: bool | None = None
    # A session lasts at most this long without a new sign-in (the refresh token may last longer).
    console_session_max_s: int = Field(12 * 3600, ge=300)
    # The access token is refreshed when it has less than this left (more than its lifetime:
    # at every request, as the tests do).
    console_refresh_margin_s: int = Field(60, ge=0, le=86400)
    # Deadline of each call to the services (a matching run gets its own, longer one).
    console_call_timeout_s: float = Field(10.0, gt=0, le=120)
    console_run_timeout_s: float = Field(150.0, gt=0, le=600)
    dev_mode: bool = False
    log_level: str = "INFO"
    log_format: Literal["json", "console"] | None = None

    def secure_cookies(self) -> bool:
        if self.console_secure_cookies is not None:
            return self.console_secure_cookies
        return not (self.dev_mode and self.console_host in ("127.0.0.1", "localhost", "::1"))

    def session_key(self) -> bytes:
        try:
            key = base64.b64decode(self.console_session_key.get_secret_value(), validate=True)
        except ValueError:
            key = b""
        if len(key) != 32:
            raise SystemExit("LINLI_CONSOLE_SESSION_KEY must be base64 of 32 random bytes")
        return key

    def refuse_unsafe(self) -> None:
        self.session_key()
        if self.console_session_key.get_secret_value() == DEV_CONSOLE_KEY and not self.dev_mode:
            raise SystemExit(
                "LINLI_CONSOLE_SESSION_KEY is the published development key: set a key of your "
                "own (or LINLI_DEV_MODE=true on a developer's machine)"
            )
        if not self.secure_cookies() and not self.dev_mode:
            raise SystemExit("LINLI_CONSOLE_SECURE_COOKIES=false is for dev mode only")
        if bool(self.tls_cert_file) != bool(self.tls_key_file):
            raise SystemExit("LINLI_TLS_CERT_FILE and LINLI_TLS_KEY_FILE are set together")


class PointsSettings(Settings):
    service_name: str = "points"
    grpc_port: int = _port("points", POINTS_PORT)
    metrics_port: int = _metrics_port("points")
    # The durable JetStream consumer of confirmed hours and the registry's members.
    durable: str = "points"
    # How hours become points, and the year's end (LINLI_POINTS__*).
    points: PointsRules = PointsRules()
    # How often the year-end loop looks whether a new year has begun.
    year_end_check_s: float = Field(60.0, gt=0)


class AffairsDeadlines(BaseModel):
    """The time limit of each stage of a ledger item, in days, for a normal item; a category's
    factor and an urgency's factor scale it (an urgent safety matter gets hours, a housing
    repair that needs a contractor more days)."""

    open_days: float = Field(2.0, gt=0)  # logged, until someone takes it in hand
    community_days: float = Field(7.0, gt=0)  # in the community's hands, until resolved
    escalated_days: float = Field(3.0, gt=0)  # at the street, until routed
    routed_days: float = Field(15.0, gt=0)  # at a unit or department (unless the street says)
    answer_days: float = Field(3.0, gt=0)  # resolved, until the resident is asked
    category_factors: dict[str, float] = Field(
        default_factory=lambda: {"housing": 1.5, "parking": 1.5, "safety": 0.5}
    )
    urgency_factors: dict[str, float] = Field(
        default_factory=lambda: {"normal": 1.0, "high": 0.5, "urgent": 0.25}
    )


class AffairsSettings(Settings):
    service_name: str = "affairs"
    grpc_port: int = _port("affairs", AFFAIRS_PORT)
    metrics_port: int = _metrics_port("affairs")
    # The durable JetStream consumer of the registry's communities and the tasks' completions.
    durable: str = "affairs"
    # Time limits per stage, category and urgency (LINLI_DEADLINES__ROUTED_DAYS=20, ...).
    deadlines: AffairsDeadlines = AffairsDeadlines()
    # How often items past their time limit are looked for.
    overdue_sweep_s: float = Field(60.0, gt=0)
