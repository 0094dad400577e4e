"""What every service runs on: pool and migrations, NATS and the stream, the gRPC server with
health, reflection and the interceptors, supervised background loops (the outbox relay,
consumers, sweeps, the health loop), and a graceful stop.

A service's composition root builds a `ServiceRuntime` (process.py) with its schema, its
migrations and a function that adds its servicers; `serve` is what its `__main__` calls.
supervisor.py restarts the loops, gate.py holds the calls in flight during a stop, health.py
says what the health service answers under which name.
"""

from services.common.runtime.entry import redacted, run_until_signal, serve
from services.common.runtime.gate import CallGate
from services.common.runtime.health import (
    EVENTS,
    LIVENESS,
    LOOPS_METADATA,
    NOT_SERVING,
    SERVING,
    RuntimeHealth,
    health_check,
)
from services.common.runtime.process import STREAM_CHECK_INTERVAL_S, ServiceRuntime
from services.common.runtime.supervisor import Loop, LoopState, Periodic, Supervisor, Worker

__all__ = [
    "EVENTS",
    "LIVENESS",
    "LOOPS_METADATA",
    "NOT_SERVING",
    "SERVING",
    "STREAM_CHECK_INTERVAL_S",
    "CallGate",
    "Loop",
    "LoopState",
    "Periodic",
    "RuntimeHealth",
    "ServiceRuntime",
    "Supervisor",
    "Worker",
    "health_check",
    "redacted",
    "run_until_signal",
    "serve",
]
