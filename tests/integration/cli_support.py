"""The `linli` command in a process of its own, as a person runs it, against the services of the
integration session."""

from __future__ import annotations

import asyncio
import os
import sys

from services.common.runtime import ServiceRuntime
from tests.conftest import ROOT


def where(
    registry: ServiceRuntime,
    tasks: ServiceRuntime,
    matching: ServiceRuntime,
    identity: ServiceRuntime | None = None,
    notifications: ServiceRuntime | None = None,
    points: ServiceRuntime | None = None,
    affairs: ServiceRuntime | None = None,
) -> dict:
    found = {
        "LINLI_REGISTRY_ADDRESS": f"127.0.0.1:{registry.port}",
        "LINLI_TASKS_ADDRESS": f"127.0.0.1:{tasks.port}",
        "LINLI_MATCHING_ADDRESS": f"127.0.0.1:{matching.port}",
    }
    if identity is not None:
        found["LINLI_IDENTITY_ADDRESS"] = f"127.0.0.1:{identity.port}"
    if notifications is not None:
        found["LINLI_NOTIFICATIONS_ADDRESS"] = f"127.0.0.1:{notifications.port}"
    if points is not None:
        found["LINLI_POINTS_ADDRESS"] = f"127.0.0.1:{points.port}"
    if affairs is not None:
        found["LINLI_AFFAIRS_ADDRESS"] = f"127.0.0.1:{affairs.port}"
    return found


async def linli(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    """Exit code, stdout and stderr; no LINLI_* setting of the test process leaks in."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.cli.main",
        *args,
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith("LINLI_")} | env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=300)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()
