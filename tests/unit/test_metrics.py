"""The metrics every service serves: their names and labels, and the server that serves them."""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass

import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.common import metrics
from services.common.service_list import SERVICES
from services.common.settings import MatchingSettings, RegistrySettings, TasksSettings


@dataclass
class FakePool:
    """What the pool collector reads of an asyncpg pool (a value, not a database)."""

    size: int
    idle: int
    most: int

    def get_size(self) -> int:
        return self.size

    def get_idle_size(self) -> int:
        return self.idle

    def get_max_size(self) -> int:
        return self.most


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_the_metrics_server_serves_calls_and_the_pool_read_at_the_scrape() -> None:
    pool = FakePool(size=4, idle=1, most=10)
    server = metrics.MetricsServer("127.0.0.1", 0)
    port = server.start()
    metrics.POOLS.watch("unit-probe", pool)
    try:
        metrics.observe_call("unit-probe", "ClaimPlace", "FAILED_PRECONDITION", 0.02)
        metrics.observe_call("unit-probe", "ClaimPlace", "FAILED_PRECONDITION", 0.03)
        seen = scrape(port)
        key = (
            "linli_grpc_server_handled_total",
            (
                ("grpc_code", "FAILED_PRECONDITION"),
                ("grpc_method", "ClaimPlace"),
                ("service", "unit-probe"),
            ),
        )
        assert seen[key] == 2
        count = (
            "linli_grpc_server_handling_seconds_count",
            (("grpc_method", "ClaimPlace"), ("service", "unit-probe")),
        )
        assert seen[count] == 2
        pool_key = "linli_db_pool_connections"
        assert seen[(pool_key, (("service", "unit-probe"), ("state", "in_use")))] == 3
        assert seen[(pool_key, (("service", "unit-probe"), ("state", "idle")))] == 1
        assert seen[(pool_key, (("service", "unit-probe"), ("state", "max")))] == 10
        pool.idle = 4
        assert scrape(port)[(pool_key, (("service", "unit-probe"), ("state", "in_use")))] == 0
    finally:
        metrics.POOLS.forget(pool)
        server.stop()
    pools = [labels for name, labels in _registered() if name == "linli_db_pool_connections"]
    assert not [labels for labels in pools if ("service", "unit-probe") in labels]


def _registered() -> list[tuple[str, tuple[tuple[str, str], ...]]]:
    return [
        (s.name, tuple(sorted(s.labels.items())))
        for family in metrics.REGISTRY.collect()
        for s in family.samples
    ]


def test_every_matching_run_status_is_a_series_from_the_start() -> None:
    names = {labels for name, labels in _registered() if name == "linli_matching_runs_total"}
    assert {dict(labels)["status"] for labels in names} >= set(metrics.RUN_STATUSES)


def test_metrics_ports_follow_the_grpc_ports_and_move_with_their_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ports = {s.name: s.default_metrics_port for s in SERVICES}
    assert {"registry": 9101, "tasks": 9102, "matching": 9103}.items() <= ports.items()
    assert RegistrySettings().metrics_port == 9101
    assert TasksSettings().metrics_port == 9102
    assert MatchingSettings().metrics_port == 9103
    # A service on a free gRPC port (tests) gets a free metrics port unless given one.
    assert TasksSettings(grpc_port=0).metrics_port == 0
    assert TasksSettings(grpc_port=0, metrics_port=-1).metrics_port == -1
    monkeypatch.setenv("LINLI_TASKS_METRICS_PORT", "9200")
    assert TasksSettings(grpc_port=0).metrics_port == 9200
    monkeypatch.delenv("LINLI_TASKS_METRICS_PORT")
    monkeypatch.setenv("LINLI_METRICS_PORT", "9300")  # in its own container
    assert MatchingSettings().metrics_port == 9300


def test_a_failed_sign_in_is_counted_by_kind_and_reason_and_an_unknown_kind_is_a_bug() -> None:
    def count() -> float:
        return (
            metrics.REGISTRY.get_sample_value(
                "linli_signins_failed_total", {"kind": "totp", "reason": "WRONG_CODE"}
            )
            or 0.0
        )

    before = count()
    metrics.signin_failed("totp", "WRONG_CODE")
    assert count() == before + 1
    with pytest.raises(ValueError):
        metrics.signin_failed("13812345678", "WRONG_CODE")
