"""Health (grpc.health.v1) under distinct names (docs/runtime.md):
- readiness: "" and each API service: the database answers, no loop has kept failing past its
  limit, and the service is not stopping. NATS being away does NOT make a service unready: the
  outbox keeps every event until the broker is back.
- "liveness": the process and its loops are alive (the health loop ticks, no loop has failed
  for long); never depends on PostgreSQL or NATS.
- "linli.events": event delivery is keeping up (NATS connected, the relay publishing); NOT_SERVING
  means events are behind, which is logged and shown but fails neither probe.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import grpc
from grpc import aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from services.common import metrics
from services.common.runtime.supervisor import LoopState
from services.common.tls import ClientTls

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
# Health service names besides readiness's "" and the API services.
LIVENESS = "liveness"
EVENTS = "linli.events"
# Trailing metadata of a health Check on LIVENESS: the state of every supervised loop.
LOOPS_METADATA = "linli-loops"


class RuntimeHealth(health.aio.HealthServicer):
    """The standard health servicer; a Check on LIVENESS is answered from the loops' state at
    that moment, with every loop's state in the trailing metadata (LOOPS_METADATA)."""

    def __init__(
        self,
        liveness: Callable[[], bool],
        loops: Callable[[], list[LoopState]],
        service: str = "linli",
    ) -> None:
        super().__init__()
        self._liveness = liveness
        self._loops = loops
        self._service = service

    async def set(self, service: str, status: health_pb2.HealthCheckResponse.ServingStatus) -> None:
        """Set a name's status, and the gauge an operator watches (linli_health_serving)."""
        metrics.HEALTH_SERVING.labels(self._service, service).set(1 if status == SERVING else 0)
        await super().set(service, status)

    async def Check(
        self, request: health_pb2.HealthCheckRequest, context: aio.ServicerContext
    ) -> health_pb2.HealthCheckResponse:
        if request.service == LIVENESS:
            await self.set(LIVENESS, SERVING if self._liveness() else NOT_SERVING)
            loops = json.dumps([s.public() for s in self._loops()], ensure_ascii=False)
            context.set_trailing_metadata(((LOOPS_METADATA, loops),))
        return await super().Check(request, context)  # type: ignore[no-any-return]


def health_check(
    address: str, service: str = "", timeout: float = 2.0, tls: ClientTls | None = None
) -> bool:
    """Ask a server's standard health service (blocking); True when it answers SERVING.
    `tls`: how to reach a port that speaks TLS (see services/common/tls.py)."""
    with (
        grpc.secure_channel(address, tls.credentials(), options=tls.options())
        if tls is not None
        else grpc.insecure_channel(address)
    ) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError:
            return False
        return bool(reply.status == SERVING)
