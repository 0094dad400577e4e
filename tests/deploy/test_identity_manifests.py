"""The identity service in the manifests: every service verifies tokens with its public keys, the
network lets Linli's pods (and only them) fetch those keys, and the scheduled runs sign in as a
service account instead of holding a long-lived token."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from services.cli.main import parse_only
from services.common.settings import (
    AffairsSettings,
    IdentitySettings,
    MatchingSettings,
    NotificationsSettings,
    PointsSettings,
    RegistrySettings,
    Settings,
    TasksSettings,
)
from services.identity.jwks_http import PATH as JWKS_PATH
from tests.deploy.test_k8s import OVERLAYS, env_of, linli_config, of_kind, render

SETTINGS: dict[str, type[Settings]] = {
    "registry": RegistrySettings,
    "tasks": TasksSettings,
    "matching": MatchingSettings,
    "identity": IdentitySettings,
    "notifications": NotificationsSettings,
    "points": PointsSettings,
    "affairs": AffairsSettings,
}


def env_seen(objects: list[dict[str, Any]], container: dict[str, Any]) -> dict[str, str]:
    """The literal settings a service's pod sees: linli-config, then its own values."""
    env = dict(linli_config(objects))
    env |= {k: v["value"] for k, v in env_of(container).items() if "value" in v}
    return env


def service_port(objects: list[dict[str, Any]], service: str, port_name: str) -> int:
    (svc,) = [s for s in of_kind(objects, "Service") if s["metadata"]["name"] == service]
    (port,) = [p["port"] for p in svc["spec"]["ports"] if p["name"] == port_name]
    return int(port)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_api_deployment_verifies_tokens_with_the_identity_services_keys(
    overlay: str,
) -> None:
    objects = render(overlay)
    # The console verifies no token: it hands the user's own to the services, which do.
    deployments = [d for d in of_kind(objects, "Deployment") if d["metadata"]["name"] != "console"]
    assert {d["metadata"]["name"] for d in deployments} == set(SETTINGS)
    jwks_port = service_port(objects, "identity", "jwks")
    for d in deployments:
        name = d["metadata"]["name"]
        (c,) = d["spec"]["template"]["spec"]["containers"]
        env = env_seen(objects, c)
        # The values are ones the service's settings accept.
        SETTINGS[name].model_validate({k.removeprefix("LINLI_").lower(): v for k, v in env.items()})
        # Outside dev mode a service with neither refuses to start.
        assert env.get("LINLI_DEV_MODE", "false").lower() in ("false", "0"), name
        assert env.get("LINLI_JWKS_URL") or env.get("LINLI_OIDC_ISSUER"), name
        if env.get("LINLI_JWKS_URL"):
            url = urlsplit(env["LINLI_JWKS_URL"])
            # The identity service serves its key set over plain HTTP (jwks_http.py), with or
            # without TLS on the gRPC ports: an https URL would find no TLS there.
            assert url.scheme == "http", name
            assert (url.hostname, url.port, url.path) == ("identity", jwks_port, JWKS_PATH)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_identity_service_serves_its_keys_on_the_port_the_url_names(overlay: str) -> None:
    objects = render(overlay)
    (identity,) = [d for d in of_kind(objects, "Deployment") if d["metadata"]["name"] == "identity"]
    (c,) = identity["spec"]["template"]["spec"]["containers"]
    env = env_of(c)
    port = service_port(objects, "identity", "jwks")
    assert env["LINLI_IDENTITY_HTTP_PORT"]["value"] == str(port)
    # Listening on loopback (the setting's default) would answer no other pod.
    assert env["LINLI_IDENTITY_HTTP_HOST"]["value"] == "0.0.0.0"
    assert {"name": "jwks", "containerPort": port} in c["ports"]


def ingress_rules_for(objects: list[dict[str, Any]], app: str, port: int) -> list[dict[str, Any]]:
    """The ingress rules that open `port` of the pods named `app`."""
    rules = []
    for policy in of_kind(objects, "NetworkPolicy"):
        selector = policy["spec"]["podSelector"]
        selected = selector.get("matchLabels", {}).get("app.kubernetes.io/name") == app or any(
            e["key"] == "app.kubernetes.io/name" and e["operator"] == "In" and app in e["values"]
            for e in selector.get("matchExpressions", [])
        )
        if not selected:
            continue
        for rule in policy["spec"].get("ingress", []):
            if port in {p["port"] for p in rule.get("ports", [])}:
                rules.append(rule)
    return rules


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_key_set_is_open_to_linli_pods_and_the_grpc_port_to_its_callers(overlay: str) -> None:
    objects = render(overlay)
    jwks = ingress_rules_for(objects, "identity", service_port(objects, "identity", "jwks"))
    assert jwks
    for rule in jwks:
        assert rule["from"] == [
            {"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": "linli"}}}
        ]
    # Sign-in (people and the scheduled runs' service account) reaches the gRPC port.
    assert ingress_rules_for(objects, "identity", service_port(objects, "identity", "grpc"))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_scheduled_runs_sign_in_as_a_service_account(overlay: str) -> None:
    objects = render(overlay)
    grpc_port = service_port(objects, "identity", "grpc")
    crons = of_kind(objects, "CronJob")
    assert crons
    for cron in crons:
        name = cron["metadata"]["name"]
        (c,) = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
        env = env_of(c)
        assert "LINLI_TOKEN" not in env, name  # no long-lived token to leak
        refs = {k: v["valueFrom"]["secretKeyRef"] for k, v in env.items() if "valueFrom" in v}
        assert {"LINLI_CLIENT_ID", "LINLI_CLIENT_SECRET"} <= set(refs), name
        assert refs["LINLI_CLIENT_ID"]["name"] == refs["LINLI_CLIENT_SECRET"]["name"]
        # The command signs in at the identity service's Service, on its gRPC port.
        _, *argv = c["args"]
        assert parse_only(argv) == ["match", "run"]
        given = argv[argv.index("--identity") + 1]
        assert given == f"identity:{grpc_port}", name
