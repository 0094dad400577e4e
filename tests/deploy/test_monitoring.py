"""Monitoring in the manifests: every service scraped on its metrics port (and only from the
monitoring namespace), the alerts checked and unit-tested by promtool, and the dashboard asking
only for metrics the services serve."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.test_k8s import OVERLAYS, ROOT, env_of, of_kind, render

MONITORING = ROOT / "deploy/k8s/components/monitoring"
# The metrics the services serve (services/common and each service's metrics), by type.
COUNTERS = {
    "linli_grpc_server_handled_total",
    "linli_events_published_total",
    "linli_consumer_redeliveries_total",
    "linli_consumer_events_total",
    "linli_matching_runs_total",
    "linli_matching_places_filled_total",
    "linli_claims_refused_total",
    "linli_check_ins_total",
    "linli_signins_failed_total",
    "linli_notification_deliveries_total",
}
GAUGES = {
    "linli_health_serving",
    "linli_outbox_backlog",
    "linli_outbox_oldest_unsent_seconds",
    "linli_consumer_pending",
    "linli_db_pool_connections",
    "linli_notification_followers",
}
HISTOGRAMS = {
    "linli_grpc_server_handling_seconds",
    "linli_matching_run_phase_seconds",
    "linli_matching_run_gap",
}
SERVED = (
    COUNTERS
    | GAUGES
    | {f"{h}{suffix}" for h in HISTOGRAMS for suffix in ("_bucket", "_sum", "_count")}
    | {"up"}  # Prometheus's own, per target
)
# Where each service serves /metrics (LINLI_METRICS_PORT in its container).
METRICS_PORTS = {
    "registry": 9101,
    "tasks": 9102,
    "matching": 9103,
    "identity": 9104,
    "notifications": 9105,
    "console": 9108,
    "points": 9106,
    "affairs": 9107,
}
# Alerts the operators' runbook (docs/deploy.md) covers.
ALERTS = {
    "LinliTargetDown",
    "LinliServiceNotServing",
    "LinliEventDeliveryBehind",
    "LinliServerErrors",
    "LinliHighErrorRate",
    "LinliDatabasePoolExhausted",
    "LinliOutboxBacklogGrowing",
    "LinliConsumerLag",
    "LinliEventsSetAside",
    "LinliMatchingRunFailed",
    "LinliScheduledMatchingJobFailed",
}

_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or"}
_KEYWORDS |= {"unless", "bool", "offset", "inf", "nan"}
# Aggregations may put their grouping before the parenthesis: `sum by (x) (...)`.
_KEYWORDS |= {"sum", "min", "max", "avg", "count", "group", "stddev", "stdvar", "topk"}
_KEYWORDS |= {"bottomk", "quantile", "count_values", "limitk", "limit_ratio"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (label matchers, ranges, grouping label
    lists and function names aside)."""
    expr = re.sub(r'"(?:\\.|[^"\\])*"', "", expr)
    expr = re.sub(r"\{[^}]*\}", " ", expr)
    expr = re.sub(r"\[[^\]]*\]", " ", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r"\1 ", expr)
    names = set()
    for m in re.finditer(r"(?<![\w$.])([a-zA-Z_:][\w:]*)(\s*\()?", expr):
        if m.group(2) is None and m.group(1).lower() not in _KEYWORDS:
            names.add(m.group(1))
    return names


def test_metric_names_are_read_from_promql() -> None:
    expr = (
        'sum by (service, le) (rate(linli_x_bucket{job="linli", a=~"b|c"}[$__rate_interval]))'
        " / ignoring (code) group_left sum(up) > 0.9 and on(pod) absent(linli_y)"
    )
    assert metric_names(expr) == {"linli_x_bucket", "up", "linli_y"}


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip(
            "NO PROMTOOL: Debian's prometheus package is not installed (make tools installs "
            "it); the alerts and the dashboard's queries were NOT checked"
        )
    return found


@pytest.fixture(scope="module")
def prod() -> list[dict[str, Any]]:
    return render("prod")


def rule_groups(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    (rule,) = of_kind(objects, "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    groups: list[dict[str, Any]] = rule["spec"]["groups"]
    return groups


def dashboard(objects: list[dict[str, Any]]) -> dict[str, Any]:
    configs = of_kind(objects, "ConfigMap")
    (config,) = [o for o in configs if o["metadata"]["name"] == "linli-dashboard"]
    assert config["metadata"]["labels"]["grafana_dashboard"] == "1"
    (text,) = config["data"].values()
    board: dict[str, Any] = json.loads(text)
    return board


def dashboard_queries(board: dict[str, Any]) -> list[str]:
    """The PromQL of every panel and of every variable (inside Grafana's label_values)."""
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    for v in board["templating"]["list"]:
        if "definition" in v:
            inner = v["definition"].removeprefix("label_values(").rsplit(",", 1)[0]
            exprs.append(inner)
    return exprs


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_serves_metrics_on_its_port_with_scrape_annotations(overlay: str) -> None:
    objects = render(overlay)
    services = {s["metadata"]["name"]: s for s in of_kind(objects, "Service")}
    for d in of_kind(objects, "Deployment"):
        name = d["metadata"]["name"]
        port = METRICS_PORTS[name]
        template = d["spec"]["template"]
        (c,) = template["spec"]["containers"]
        assert {"name": "metrics", "containerPort": port} in c["ports"], name
        assert env_of(c)["LINLI_METRICS_PORT"]["value"] == str(port), name
        notes = template["metadata"]["annotations"]
        assert notes["prometheus.io/scrape"] == "true"
        assert notes["prometheus.io/port"] == str(port)
        assert notes["prometheus.io/path"] == "/metrics"
        assert {p["name"]: p["port"] for p in services[name]["spec"]["ports"]}["metrics"] == port


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_metrics_ports_are_open_to_the_monitoring_namespace_only(overlay: str) -> None:
    metrics = set(METRICS_PORTS.values())
    opened = False
    for policy in of_kind(render(overlay), "NetworkPolicy"):
        for rule in policy["spec"].get("ingress", []):
            ports = {p["port"] for p in rule.get("ports", [])}
            if not ports & metrics:
                continue
            assert ports <= metrics, policy["metadata"]["name"]  # nothing else rides along
            monitoring = {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}
            assert rule["from"] == [{"namespaceSelector": monitoring}], policy["metadata"]["name"]
            opened = True
    assert opened


def test_the_pod_monitor_scrapes_every_service_pod(prod: list[dict[str, Any]]) -> None:
    (monitor,) = of_kind(prod, "PodMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    (selector,) = monitor["spec"]["selector"]["matchExpressions"]
    assert selector["key"] == "app.kubernetes.io/name" and selector["operator"] == "In"
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] == "metrics" and endpoint["path"] == "/metrics"
    # The alerts select job="linli": the pods' part-of label.
    assert monitor["spec"]["jobLabel"] == "app.kubernetes.io/part-of"
    for d in of_kind(prod, "Deployment"):
        labels = d["spec"]["template"]["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] in selector["values"]
        assert labels["app.kubernetes.io/part-of"] == "linli"


def test_the_alerts_are_those_the_runbook_covers(prod: list[dict[str, Any]]) -> None:
    rules = [r for g in rule_groups(prod) for r in g["rules"]]
    assert {r["alert"] for r in rules} == ALERTS
    runbook = (ROOT / "docs/deploy.md").read_text()
    for r in rules:
        assert r["labels"]["severity"] in ("critical", "warning"), r["alert"]
        assert r["annotations"]["runbook"] == f"docs/deploy.md#{r['alert'].lower()}"
        assert f"\n### {r['alert']}\n" in runbook, r["alert"]
        # Only metrics the services serve, and kube-state-metrics' Job status.
        assert metric_names(r["expr"]) <= SERVED | {"kube_job_status_failed"}, r["alert"]


def test_promtool_accepts_the_rules_and_their_unit_tests_pass(
    prod: list[dict[str, Any]], tmp_path: Path
) -> None:
    tool = promtool()
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": rule_groups(prod)}))
    shutil.copy(ROOT / "tests/deploy/alerts_test.yaml", tmp_path / "alerts_test.yaml")
    for args in (["check", "rules", "rules.yaml"], ["test", "rules", "alerts_test.yaml"]):
        done = subprocess.run(
            [tool, *args], check=False, cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_the_dashboard_asks_only_for_metrics_the_services_serve(
    prod: list[dict[str, Any]],
) -> None:
    board = dashboard(prod)
    assert board["uid"] and board["title"]
    queries = dashboard_queries(board)
    asked: set[str] = set()
    for q in queries:
        names = metric_names(q)
        assert names, q
        assert names <= SERVED, (q, names - SERVED)
        asked |= names
    # Every metric has a panel: an operator sees what an alert saw.
    bare = {re.sub(r"_(bucket|sum|count)$", "", n) for n in asked}
    assert bare >= COUNTERS | GAUGES | HISTOGRAMS
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))


def test_the_dashboard_queries_are_valid_promql(prod: list[dict[str, Any]], tmp_path: Path) -> None:
    tool = promtool()
    variables = {"$__rate_interval": "5m", "$namespace": "linli", "$service": ".*"}
    rules = []
    for i, query in enumerate(dashboard_queries(dashboard(prod))):
        expr = query
        for var, value in variables.items():
            expr = expr.replace(var, value)
        assert "$" not in expr, query
        rules.append({"record": f"linli:dashboard:{i}", "expr": expr})
    (tmp_path / "queries.yaml").write_text(
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]})
    )
    done = subprocess.run(
        [tool, "check", "rules", "queries.yaml"],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
