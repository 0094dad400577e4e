"""The Kubernetes manifests: every overlay renders with kustomize, every object is valid against
the Kubernetes schemas, and the rules a district's operators rely on hold (gRPC probes, limits,
non-root, read-only file systems, grace periods, commands the CLI accepts)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from services.cli.main import parse_only
from services.common.runtime import LIVENESS
from services.common.settings import Settings

ROOT = Path(__file__).resolve().parent.parent.parent
OVERLAYS = ("dev", "prod")
K8S_VERSION = "1.32.0"  # the oldest version the manifests promise to work on (CronJob timeZone)
# Custom resources are checked for the fields the services depend on: the CloudNativePG Cluster
# here, the Prometheus Operator's in test_monitoring.py, cert-manager's in test_tls_manifests.py.
CUSTOM = {"Cluster", "PodMonitor", "PrometheusRule", "Certificate", "Issuer"}
# The plaintext port that answers only grpc.health.v1 (LINLI_HEALTH_PORT), for the kubelet.
HEALTH_PORT = 8081


def render(overlay: str) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip(
            "NO KUBECTL: Debian's kubectl is not installed (make tools installs it); "
            "the Kubernetes manifests were NOT checked"
        )
    out = subprocess.run(
        [kubectl, "kustomize", str(ROOT / "deploy/k8s/overlays" / overlay)],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


@pytest.fixture(scope="module", params=OVERLAYS)
def objects(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return render(request.param)


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def pod_specs(objects: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    specs = [
        (o["metadata"]["name"], o["spec"]["template"]["spec"])
        for o in objects
        if o["kind"] in ("Deployment", "StatefulSet", "Job")
    ]
    specs += [
        (o["metadata"]["name"], o["spec"]["jobTemplate"]["spec"]["template"]["spec"])
        for o in of_kind(objects, "CronJob")
    ]
    return specs


def test_every_object_is_valid_against_the_kubernetes_schemas(
    objects: list[dict[str, Any]],
) -> None:
    for o in objects:
        if o["kind"] in CUSTOM:
            continue
        kubernetes_validate.validate(o, K8S_VERSION, strict=True)


def test_the_database_cluster_has_what_the_services_need(objects: list[dict[str, Any]]) -> None:
    (cluster,) = of_kind(objects, "Cluster")
    assert cluster["apiVersion"] == "postgresql.cnpg.io/v1"
    assert cluster["metadata"]["name"] == "linli-db"  # its app secret is linli-db-app
    extensions = " ".join(cluster["spec"]["bootstrap"]["initdb"]["postInitApplicationSQL"])
    for name in ("btree_gist", "cube", "earthdistance"):
        assert name in extensions


def test_every_deployment_has_grpc_probes_limits_and_a_non_root_read_only_container(
    objects: list[dict[str, Any]],
) -> None:
    everything = of_kind(objects, "Deployment")
    assert {d["metadata"]["name"] for d in everything} == {
        "registry",
        "identity",
        "tasks",
        "matching",
        "notifications",
        "console",
        "points",
        "affairs",
    }
    # The console is an HTTP service: its probes and the rest are checked below.
    deployments = [d for d in everything if d["metadata"]["name"] != "console"]
    grace = Settings().shutdown_grace_s + 5  # the service's own grace plus its drain pause
    assert linli_config(objects)["LINLI_HEALTH_PORT"] == str(HEALTH_PORT)
    for d in deployments:
        spec = d["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["terminationGracePeriodSeconds"] > grace
        for c in spec["containers"]:
            # The kubelet's gRPC probe speaks no TLS: the probes ask the plaintext health port,
            # whether or not the API port has a certificate.
            assert {"name": "health", "containerPort": HEALTH_PORT} in c["ports"]
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                assert c[probe]["grpc"]["port"] == HEALTH_PORT, (d["metadata"]["name"], probe)
            # Readiness asks for the API service, liveness for the loops only (never the same
            # health, or a broker outage would restart every pod).
            assert c["readinessProbe"]["grpc"]["service"].startswith("linli.v1.")
            assert c["livenessProbe"]["grpc"]["service"] == LIVENESS
            assert c["startupProbe"]["grpc"]["service"] == LIVENESS
            assert c["resources"]["limits"]["cpu"] and c["resources"]["limits"]["memory"]
            assert c["resources"]["requests"]["cpu"] and c["resources"]["requests"]["memory"]
            assert c["securityContext"]["readOnlyRootFilesystem"] is True
            assert c["securityContext"]["allowPrivilegeEscalation"] is False


def test_the_console_is_probed_over_http_and_runs_locked_down(
    objects: list[dict[str, Any]],
) -> None:
    (console,) = [d for d in of_kind(objects, "Deployment") if d["metadata"]["name"] == "console"]
    spec = console["spec"]["template"]["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    (c,) = spec["containers"]
    env = env_of(c)
    assert env["LINLI_CONSOLE_SESSION_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "linli-console"
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"]["path"] == "/healthz" and c[probe]["httpGet"]["port"] == "http"
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["resources"]["limits"]["cpu"] and c["resources"]["limits"]["memory"]


def test_every_pod_runs_as_non_root_with_limits(objects: list[dict[str, Any]]) -> None:
    for name, spec in pod_specs(objects):
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        for c in spec["containers"]:
            assert c["resources"]["limits"], name


def test_secrets_are_referenced_by_name_and_never_committed(objects: list[dict[str, Any]]) -> None:
    assert of_kind(objects, "Secret") == []
    refs = {
        e["valueFrom"]["secretKeyRef"]["name"]
        for _, spec in pod_specs(objects)
        for c in spec["containers"]
        for e in c.get("env", [])
        if "valueFrom" in e and "secretKeyRef" in e["valueFrom"]
    }
    assert refs <= {
        "linli-db-app",
        "linli-jwt",
        "linli-scheduler",
        "linli-nats",
        "linli-events",
        "linli-sms",
        "linli-identity",
        "linli-wechat",
        "linli-attendance",
        "linli-console",
    }


def test_the_registry_takes_its_sms_key_pair_from_an_optional_secret(
    objects: list[dict[str, Any]],
) -> None:
    (registry,) = [
        c for name, spec in pod_specs(objects) for c in spec["containers"] if name == "registry"
    ]
    env = env_of(registry)
    for name, key in (
        ("LINLI_SMS__ACCESS_KEY_ID", "access_key_id"),
        ("LINLI_SMS__ACCESS_KEY_SECRET", "access_key_secret"),
    ):
        ref = env[name]["valueFrom"]["secretKeyRef"]
        assert (ref["name"], ref["key"], ref["optional"]) == ("linli-sms", key, True)


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e for e in container.get("env", [])}


def test_nats_requires_credentials_that_every_service_has_from_a_secret(
    objects: list[dict[str, Any]],
) -> None:
    config = next(
        o for o in of_kind(objects, "ConfigMap") if o["metadata"]["name"].startswith("nats-config")
    )
    conf = config["data"]["nats.conf"]
    assert "authorization" in conf and "$NATS_USER" in conf and "$NATS_PASSWORD" in conf
    (nats,) = of_kind(objects, "StatefulSet")
    (server,) = nats["spec"]["template"]["spec"]["containers"]
    for name in ("NATS_USER", "NATS_PASSWORD"):
        assert env_of(server)[name]["valueFrom"]["secretKeyRef"]["name"] == "linli-nats"
    for d in of_kind(objects, "Deployment"):
        if d["metadata"]["name"] == "console":
            continue  # the console speaks to the services alone, never to NATS
        for c in d["spec"]["template"]["spec"]["containers"]:
            env = env_of(c)
            for name, key in (("LINLI_NATS_USER", "user"), ("LINLI_NATS_PASSWORD", "password")):
                ref = env[name]["valueFrom"]["secretKeyRef"]
                assert (ref["name"], ref["key"]) == ("linli-nats", key), d["metadata"]["name"]


def linli_config(objects: list[dict[str, Any]]) -> dict[str, str]:
    (config,) = [
        o for o in of_kind(objects, "ConfigMap") if o["metadata"]["name"].startswith("linli-config")
    ]
    data: dict[str, str] = config["data"]
    return data


def test_the_stream_settings_are_valid_settings_in_every_overlay(
    objects: list[dict[str, Any]],
) -> None:
    env = {k: v for k, v in linli_config(objects).items() if k.startswith("LINLI_STREAM_")}
    assert env
    spec = Settings.model_validate(
        {k.removeprefix("LINLI_").lower(): v for k, v in env.items()}
    ).stream_spec()
    (nats,) = of_kind(objects, "StatefulSet")
    assert spec.replicas <= nats["spec"]["replicas"]


def test_every_scheduled_run_is_a_command_the_cli_accepts(objects: list[dict[str, Any]]) -> None:
    crons = of_kind(objects, "CronJob")
    assert crons
    for cron in crons:
        (container,) = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
        module, *argv = container["args"]
        assert module == "services.cli.main"
        assert parse_only(argv) == ["match", "run"]


def test_prod_replicates_the_stateful_parts_and_syncs_every_write() -> None:
    objects = render("prod")
    (cluster,) = of_kind(objects, "Cluster")
    assert cluster["spec"]["instances"] >= 3
    (nats,) = of_kind(objects, "StatefulSet")
    assert nats["spec"]["replicas"] == 3
    config = next(
        o for o in of_kind(objects, "ConfigMap") if o["metadata"]["name"].startswith("nats-config")
    )
    assert "sync_interval: always" in config["data"]["nats.conf"]
    config = linli_config(objects)
    assert config["LINLI_STREAM_REPLICAS"] == "3"
    assert int(config["LINLI_STREAM_MAX_BYTES"]) > 0
    streets = {c["metadata"]["name"] for c in of_kind(objects, "CronJob")}
    assert {"match-district", "match-jiyang", "match-jibei"} <= streets


def test_network_policies_deny_by_default() -> None:
    for overlay in OVERLAYS:
        policies = of_kind(render(overlay), "NetworkPolicy")
        deny = [p for p in policies if p["spec"]["podSelector"] == {}]
        assert deny and "ingress" not in deny[0]["spec"]
