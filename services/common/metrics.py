"""Prometheus metrics of a service process: one registry, the metrics every service shares, and
the HTTP server that serves them on the metrics port (docs/operations.md lists them all)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

# One registry per process: several services in one process (the tests) share it and are told
# apart by their `service` label.
REGISTRY = CollectorRegistry(auto_describe=True)
for _standard in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
    REGISTRY.register(_standard)

# Calls answered in milliseconds to seconds; a matching run may take a minute.
_CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_PHASE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_GAP_BUCKETS = (0.0, 0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)

GRPC_HANDLED = Counter(
    "linli_grpc_server_handled_total",
    "RPCs completed, by method and the status code the caller got.",
    ["service", "grpc_method", "grpc_code"],
    registry=REGISTRY,
)
GRPC_SECONDS = Histogram(
    "linli_grpc_server_handling_seconds",
    "Time from the call's arrival to its answer (or error), by method.",
    ["service", "grpc_method"],
    buckets=_CALL_BUCKETS,
    registry=REGISTRY,
)
HEALTH_SERVING = Gauge(
    "linli_health_serving",
    "1 when the health service answers SERVING under this name, else 0.",
    ["service", "name"],
    registry=REGISTRY,
)
OUTBOX_BACKLOG = Gauge(
    "linli_outbox_backlog",
    "Outbox rows not yet published to the stream.",
    ["service"],
    registry=REGISTRY,
)
OUTBOX_OLDEST_UNSENT = Gauge(
    "linli_outbox_oldest_unsent_seconds",
    "Age of the oldest outbox row not yet published (0 when none waits): the relay's lag.",
    ["service"],
    registry=REGISTRY,
)
EVENTS_PUBLISHED = Counter(
    "linli_events_published_total",
    "Events the outbox relay published and the stream acknowledged.",
    ["service"],
    registry=REGISTRY,
)
CONSUMER_PENDING = Gauge(
    "linli_consumer_pending",
    "Messages a durable consumer has not yet been delivered or not yet acknowledged.",
    ["service", "durable"],
    registry=REGISTRY,
)
CONSUMER_REDELIVERIES = Counter(
    "linli_consumer_redeliveries_total",
    "Messages delivered to a durable consumer again (a failed try, a lost ack, a restart).",
    ["service", "durable"],
    registry=REGISTRY,
)
CONSUMER_EVENTS = Counter(
    "linli_consumer_events_total",
    "Events a durable consumer handled, by outcome: applied, skipped (seen before), failed "
    "(tried again later), set_aside (given up, or unreadable).",
    ["service", "durable", "outcome"],
    registry=REGISTRY,
)
MATCHING_RUNS = Counter(
    "linli_matching_runs_total",
    "Matching runs, by how they ended: succeeded, failed, or refused before they started.",
    ["status"],
    registry=REGISTRY,
)
MATCHING_PHASE_SECONDS = Histogram(
    "linli_matching_run_phase_seconds",
    "Time a matching run spent in each phase: load, candidates, solve, write.",
    ["phase"],
    buckets=_PHASE_BUCKETS,
    registry=REGISTRY,
)
MATCHING_GAP = Histogram(
    "linli_matching_run_gap",
    "Relative optimality gap of each run's plan (0: proven optimal).",
    buckets=_GAP_BUCKETS,
    registry=REGISTRY,
)
MATCHING_PLACES_FILLED = Counter(
    "linli_matching_places_filled_total",
    "Places that matching runs (not dry runs) filled with a proposal.",
    registry=REGISTRY,
)
CLAIMS_REFUSED = Counter(
    "linli_claims_refused_total",
    "Claims of a place refused, by the refusal's reason code.",
    ["reason"],
    registry=REGISTRY,
)
CHECK_INS = Counter(
    "linli_check_ins_total",
    "Check-ins and check-outs on site: by purpose, and their evidence or refusal reason.",
    ["purpose", "outcome"],
    registry=REGISTRY,
)
SIGNINS_FAILED = Counter(
    "linli_signins_failed_total",
    "Failed sign-ins, by kind (password, totp, phone_code, refresh, client_secret) and reason.",
    ["kind", "reason"],
    registry=REGISTRY,
)
NOTIFICATION_DELIVERIES = Counter(
    "linli_notification_deliveries_total",
    "Items tried on a member's channel (sms, wechat), by outcome (sent, retry, refused, dropped).",
    ["channel", "outcome"],
    registry=REGISTRY,
)
NOTIFICATION_FOLLOWERS = Gauge(
    "linli_notification_followers",
    "Inbox streams (FollowInbox) open in this process.",
    registry=REGISTRY,
)

RUN_STATUSES = ("succeeded", "failed", "refused")
RUN_PHASES = ("load", "candidates", "solve", "write")
CONSUMER_OUTCOMES = ("applied", "skipped", "failed", "set_aside")
for _status in RUN_STATUSES:  # a series at 0 from the start, so that rates and alerts see it
    MATCHING_RUNS.labels(_status)


def observe_call(service: str, method: str, code: str, seconds: float) -> None:
    """One RPC answered: its count by status code and its latency."""
    GRPC_HANDLED.labels(service, method, code).inc()
    GRPC_SECONDS.labels(service, method).observe(seconds)


def observe_run(phases: dict[str, float], gap: float | None, filled: int, dry_run: bool) -> None:
    """A matching run that succeeded: its phases, its gap and (unless dry) the places filled."""
    MATCHING_RUNS.labels("succeeded").inc()
    for phase, seconds in phases.items():
        MATCHING_PHASE_SECONDS.labels(phase).observe(seconds)
    if gap is not None:
        MATCHING_GAP.observe(gap)
    if not dry_run:
        MATCHING_PLACES_FILLED.inc(filled)


SIGNIN_KINDS = ("password", "totp", "phone_code", "refresh", "client_secret")


def signin_failed(kind: str, reason: str) -> None:
    """A sign-in refused: `kind` one of SIGNIN_KINDS, `reason` the refusal's reason code (never
    the account or phone it concerned: labels are kept forever)."""
    if kind not in SIGNIN_KINDS:
        raise ValueError(f"unknown sign-in kind {kind!r}")
    SIGNINS_FAILED.labels(kind, reason).inc()


def consumer_series(service: str, durable: str) -> None:
    """A consumer's series at 0 from its start, so that rates and alerts see it before any event."""
    for outcome in CONSUMER_OUTCOMES:
        CONSUMER_EVENTS.labels(service, durable, outcome)
    CONSUMER_REDELIVERIES.labels(service, durable)


def consumer_outcome(service: str, durable: str, outcome: str) -> None:
    CONSUMER_EVENTS.labels(service, durable, outcome).inc()


class PoolCollector(Collector):
    """The database pools' connections in use, idle and at most, by service, read at each scrape
    (so never stale). A service's pool is watched while the service runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pools: dict[int, tuple[str, object]] = {}

    def watch(self, service: str, pool: object) -> None:
        with self._lock:
            self._pools[id(pool)] = (service, pool)

    def forget(self, pool: object) -> None:
        with self._lock:
            self._pools.pop(id(pool), None)

    def describe(self) -> Iterable[Metric]:
        return [self._family()]

    def collect(self) -> Iterable[Metric]:
        totals: dict[str, list[int]] = {}
        with self._lock:
            pools = list(self._pools.values())
        for service, pool in pools:
            size = int(pool.get_size())  # type: ignore[attr-defined]
            idle = int(pool.get_idle_size())  # type: ignore[attr-defined]
            most = int(pool.get_max_size())  # type: ignore[attr-defined]
            # Two pools of one service in a process (replicas in a test) add up.
            seen = totals.setdefault(service, [0, 0, 0])
            seen[0] += size - idle
            seen[1] += idle
            seen[2] += most
        family = self._family()
        for service, (in_use, idle, most) in totals.items():
            family.add_metric([service, "in_use"], in_use)
            family.add_metric([service, "idle"], idle)
            family.add_metric([service, "max"], most)
        return [family]

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "linli_db_pool_connections",
            "Database pool connections by state: in_use, idle, max.",
            labels=["service", "state"],
        )


POOLS = PoolCollector()
REGISTRY.register(POOLS)


@dataclass
class MetricsServer:
    """The HTTP server of /metrics on a port of its own (a thread; the scrape reads the registry
    and never the event loop). Port 0 takes a free one; `port` says which."""

    host: str
    port: int
    _server: WSGIServer | None = None
    _thread: threading.Thread | None = None

    def start(self) -> int:
        self._server, self._thread = start_http_server(self.port, self.host, registry=REGISTRY)
        self.port = int(self._server.server_port)
        log.info("metrics on http://%s:%d/metrics", self.host, self.port)
        return self.port

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
