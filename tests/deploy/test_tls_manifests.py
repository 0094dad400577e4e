"""TLS in the manifests: in prod every service serves its gRPC port with a certificate from
cert-manager, its probes stay on the plaintext health port, and the scheduled runs trust the CA;
the dev overlay stays plaintext."""

from __future__ import annotations

from typing import Any

from services.common.settings import ClientSettings, ConsoleSettings, Settings
from tests.deploy.test_k8s import env_of, of_kind, render


def mounted(spec: dict[str, Any], container: dict[str, Any], path: str) -> dict[str, Any]:
    """The volume holding the file at `path` in the container."""
    for mount in container.get("volumeMounts", []):
        if path.startswith(mount["mountPath"].rstrip("/") + "/"):
            (volume,) = [v for v in spec["volumes"] if v["name"] == mount["name"]]
            assert mount.get("readOnly") is True
            return volume
    raise AssertionError(f"{path} is on no volume")


def test_in_prod_every_service_serves_tls_with_a_certificate_from_cert_manager() -> None:
    objects = render("prod")
    certificates = {c["spec"]["secretName"]: c for c in of_kind(objects, "Certificate")}
    issuers = {i["metadata"]["name"] for i in of_kind(objects, "Issuer")}
    for d in of_kind(objects, "Deployment"):
        name = d["metadata"]["name"]
        spec = d["spec"]["template"]["spec"]
        (c,) = spec["containers"]
        env = {k: v["value"] for k, v in env_of(c).items() if k.startswith("LINLI_TLS_")}
        # The console is a caller too: its settings are a client's, with the CA it trusts.
        kind = ConsoleSettings if name == "console" else Settings
        settings = kind.model_validate(
            {k.removeprefix("LINLI_").lower(): v for k, v in env.items()}
        )
        assert settings.tls_cert_file and settings.tls_key_file, name
        assert settings.tls_cert_file.endswith("/tls.crt")
        assert settings.tls_key_file.endswith("/tls.key")
        secret = mounted(spec, c, settings.tls_cert_file)["secret"]["secretName"]
        assert mounted(spec, c, settings.tls_key_file)["secret"]["secretName"] == secret
        certificate = certificates[secret]
        assert name in certificate["spec"]["dnsNames"]  # clients call it by its Service's name
        assert "server auth" in certificate["spec"]["usages"]
        assert certificate["spec"]["issuerRef"]["name"] in issuers
        if name == "console":
            # HTTPS, probes included (the kubelet does not check the certificate); the
            # services' CA beside its own certificate.
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                assert c[probe]["httpGet"]["scheme"] == "HTTPS"
            ca = env_of(c)["LINLI_TLS_CA_FILE"]["value"]
            assert mounted(spec, c, ca)["secret"]["secretName"] == secret
            continue
        # The probes never meet the certificate: the kubelet's gRPC probe has no TLS.
        port = int(env_of(c).get("LINLI_HEALTH_PORT", {}).get("value", 8081))
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert c[probe]["grpc"]["port"] == port != c["ports"][0]["containerPort"]


def test_in_prod_the_scheduled_runs_trust_the_ca_and_nothing_more() -> None:
    objects = render("prod")
    cas = {
        c["spec"]["secretName"] for c in of_kind(objects, "Certificate") if c["spec"].get("isCA")
    }
    for cron in of_kind(objects, "CronJob"):
        spec = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        (c,) = spec["containers"]
        env = {k: v["value"] for k, v in env_of(c).items() if "value" in v}
        client = ClientSettings.model_validate(
            {k.removeprefix("LINLI_").lower(): v for k, v in env.items()}
        )
        assert client.tls_ca_file, cron["metadata"]["name"]
        secret = mounted(spec, c, client.tls_ca_file)["secret"]
        # Only the CA certificate: never a service's key, never the CA's own Secret.
        assert secret["items"] == [{"key": "ca.crt", "path": "ca.crt"}]
        assert secret["secretName"] not in cas


def test_the_dev_overlay_stays_plaintext() -> None:
    objects = render("dev")
    assert of_kind(objects, "Certificate") == []
    for d in of_kind(objects, "Deployment"):
        (c,) = d["spec"]["template"]["spec"]["containers"]
        assert "LINLI_TLS_CERT_FILE" not in env_of(c)
