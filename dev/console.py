"""The staff console in the local stack: started after the services (`make up`), pointed at
them, in dev mode (plain HTTP on 127.0.0.1, so its cookies are not marked Secure)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from services.common.settings.services import CONSOLE_METRICS_PORT, CONSOLE_PORT

ROOT = Path(__file__).resolve().parent.parent


def port() -> int:
    value = os.environ.get("LINLI_CONSOLE_PORT")
    return int(value) if value else CONSOLE_PORT


def url(at: int) -> str:
    return f"http://127.0.0.1:{at}/"


def ready(at: int) -> bool:
    try:
        return httpx.get(f"{url(at)}healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _alive(pid: int) -> bool:
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def up(
    root: Path, services: dict[str, dict[str, int]], running: dict[str, int] | None
) -> dict[str, int]:
    """Start the console unless the one recorded still answers; return its {pid, port}."""
    if running and _alive(running["pid"]) and ready(running["port"]):
        return running
    at = port()
    # Plain HTTP locally: a certificate meant for the services' gRPC ports is not the console's.
    inherited = {
        k: v
        for k, v in os.environ.items()
        if k not in ("LINLI_TLS_CERT_FILE", "LINLI_TLS_KEY_FILE")
    }
    env = {
        **inherited,
        "LINLI_DEV_MODE": "true",
        "LINLI_CONSOLE_PORT": str(at),
        # The console's own metrics port (LINLI_METRICS_PORT in its process, as in a cluster).
        "LINLI_METRICS_PORT": os.environ.get(
            "LINLI_CONSOLE_METRICS_PORT", str(CONSOLE_METRICS_PORT)
        ),
        **{
            f"LINLI_{name.upper()}_ADDRESS": f"127.0.0.1:{info['port']}"
            for name, info in services.items()
        },
    }
    with open(root / "logs" / "console.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.console"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = (root / "logs" / "console.log").read_text(errors="replace")[-3000:]
            raise SystemExit(f"the console exited during start-up; its log ends:\n{tail}")
        if ready(at):
            return {"pid": proc.pid, "port": at}
        time.sleep(0.2)
    raise SystemExit(f"the console does not answer on {url(at)} after 60s; see {root}/logs/")


def stop(pid: int) -> bool:
    if not _alive(pid):
        return False
    os.kill(pid, signal.SIGTERM)
    for _ in range(150):
        if not _alive(pid):
            return True
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    return True
