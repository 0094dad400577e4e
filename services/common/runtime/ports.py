"""Where a service listens: its API port, with TLS when a certificate is given, and the
plaintext port that answers only grpc.health.v1 for probes that cannot speak TLS."""

from __future__ import annotations

import logging

from grpc import aio
from grpc_health.v1 import health_pb2_grpc

from services.common import tls
from services.common.runtime.health import RuntimeHealth
from services.common.settings import Settings

log = logging.getLogger(__name__)


def bind_api(server: aio.Server, settings: Settings) -> int:
    """Add the API port (TLS when LINLI_TLS_CERT_FILE is set); returns the port bound."""
    address = f"{settings.grpc_host}:{settings.grpc_port}"
    if not settings.tls_cert_file and not settings.tls_key_file:
        return server.add_insecure_port(address)
    if not settings.tls_cert_file or not settings.tls_key_file:
        raise tls.TlsConfigError("LINLI_TLS_CERT_FILE and LINLI_TLS_KEY_FILE are set together")
    credentials = tls.server_credentials(
        settings.tls_cert_file, settings.tls_key_file, settings.tls_client_ca_file
    )
    port = server.add_secure_port(address, credentials)
    log.info(
        "%s: TLS on port %d%s",
        settings.service_name,
        port,
        " (client certificates required)" if settings.tls_client_ca_file else "",
    )
    return port


async def serve_health(health: RuntimeHealth, settings: Settings) -> tuple[aio.Server | None, int]:
    """Start the health-only plaintext server on LINLI_HEALTH_PORT, if set. It answers the same
    health as the API port (readiness, liveness, events) and nothing else: no API, no reflection,
    so it may stay plaintext when the API port speaks TLS. The kubelet's probes come from the
    node; no NetworkPolicy opens this port to other pods."""
    if settings.health_port is None:
        return None, 0
    server = aio.server(options=[("grpc.so_reuseport", 0)])
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    port = server.add_insecure_port(f"{settings.grpc_host}:{settings.health_port}")
    await server.start()
    return server, port
