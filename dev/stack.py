"""Run the whole system locally in the background: `make up`, `make down`, `make status`.

PostgreSQL and NATS come from their wheels (or from LINLI_DATABASE_URL / LINLI_NATS_URL when set),
the services run as their own processes, and everything lives under .linli/stack/: data, logs and
state.json, which records what runs where so that `make down` can stop it. The local NATS
requires a user and password like production's; the services get both in LINLI_NATS_URL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dev import console
from dev.localinfra import NatsServer, PostgresServer, wait_for_port
from services.client import client_tls
from services.common.migrate_all import apply_all
from services.common.runtime import health_check, redacted
from services.common.service_list import AFFAIRS, IDENTITY, REGISTRY, SERVICES, ServiceSpec
from services.common.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class StackState:
    database_url: str
    nats_url: str
    postgres_dir: str | None = None
    nats_pid: int | None = None
    nats_dir: str | None = None
    services: dict[str, dict[str, int]] = field(default_factory=dict)  # name -> {pid, port}
    console: dict[str, int] | None = None  # {pid, port} of the staff console (HTTP)


def state_dir(settings: Settings) -> Path:
    return (ROOT / settings.state_dir / "stack").resolve()


def load_state(settings: Settings) -> StackState | None:
    path = state_dir(settings) / "state.json"
    if not path.exists():
        return None
    return StackState(**json.loads(path.read_text()))


def save_state(settings: Settings, state: StackState) -> None:
    path = state_dir(settings) / "state.json"
    path.write_text(json.dumps(asdict(state), indent=2))


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    with contextlib.suppress(ChildProcessError):  # our own child: reap it if it has exited
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def port_for(spec: ServiceSpec) -> int:
    value = os.environ.get(spec.port_setting)
    return int(value) if value else spec.default_port


def metrics_port_for(spec: ServiceSpec) -> int:
    value = os.environ.get(spec.metrics_port_setting)
    return int(value) if value else spec.default_metrics_port


def sms_inbox(settings: Settings) -> Path:
    """Where the local services' text messages land (LINLI_SMS__DEV_INBOX)."""
    return state_dir(settings) / "sms-inbox.jsonl"


def jwks_port_for() -> int:
    """The identity service's HTTP port: LINLI_IDENTITY_HTTP_PORT, else ten above its gRPC port
    (50064 by default), so that a stack on moved ports moves it too."""
    value = os.environ.get("LINLI_IDENTITY_HTTP_PORT")
    return int(value) if value else port_for(IDENTITY) + 10


def up(settings: Settings, *, quiet: bool = False) -> StackState:
    """Start whatever is not running yet (servers, services); return what runs where."""
    say = (lambda *_: None) if quiet else print
    root = state_dir(settings)
    root.mkdir(parents=True, exist_ok=True)
    old = load_state(settings)

    if settings.database_url:
        db_url, pg_dir = settings.database_url, None
    elif old is not None and old.postgres_dir and _listening(old.database_url):
        db_url, pg_dir = old.database_url, old.postgres_dir
    else:
        pg = PostgresServer.start(root / "pg", port=_saved_port(old, "database_url"))
        db_url, pg_dir = pg.url, str(pg.data_dir)
    say(f"PostgreSQL   {db_url}")
    if settings.nats_url:
        nats_url, nats_pid, nats_dir = settings.nats_url, None, None
    elif old is not None and _alive(old.nats_pid):
        nats_url, nats_pid, nats_dir = old.nats_url, old.nats_pid, old.nats_dir
    else:
        nats = NatsServer.start(root / "nats", port=_saved_port(old, "nats_url"), detach=True)
        assert nats.process is not None
        nats_url, nats_pid, nats_dir = nats.url, nats.process.pid, str(nats.store_dir)
    say(f"NATS         {redacted(nats_url)}  (password in {root / 'nats' / 'nats-password'})")
    state = StackState(db_url, nats_url, pg_dir, nats_pid, nats_dir)
    save_state(settings, state)

    (root / "logs").mkdir(exist_ok=True)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    jwks_port = jwks_port_for()
    for spec in SERVICES:
        running = old.services.get(spec.name) if old is not None else None
        if (
            running
            and _alive(running["pid"])
            and health_check(f"127.0.0.1:{running['port']}", spec.grpc_service, tls=client_tls())
        ):
            state.services[spec.name] = running
            save_state(settings, state)
            continue
        port = port_for(spec)
        env = {
            **os.environ,
            "LINLI_DATABASE_URL": db_url,
            "LINLI_NATS_URL": nats_url,
            spec.port_setting: str(port),
            spec.metrics_port_setting: str(metrics_port_for(spec)),
            # The identity service's public keys, which every service verifies tokens with.
            "LINLI_IDENTITY_HTTP_PORT": str(jwks_port),
            "LINLI_JWKS_URL": f"http://127.0.0.1:{jwks_port}/.well-known/jwks.json",
            "LINLI_DEV_MODE": "true",
            # The phones of a local system: every text message as a JSON line (dev mode only).
            "LINLI_SMS__DEV_INBOX": str(sms_inbox(settings)),
            # The demo lets time pass by writing an offset here (services/common/clock.py).
            "LINLI_CLOCK_FILE": str(root / "clock"),
        }
        if spec is IDENTITY:
            # A local system where one script signs a whole district in from one address:
            # codes asked are not limited, and tokens outlast a demo's run.
            env.setdefault("LINLI_PHONE_CODES_PER_CALLER", "1000000")
            env.setdefault("LINLI_PHONE_CODES_PER_PHONE", "1000")
            env.setdefault("LINLI_ACCESS_TTL_S", "14400")
        if spec is REGISTRY:
            # A demo's month passes in a minute: certificates are looked at as often as tasks.
            env.setdefault("LINLI_CERTIFICATE_SWEEP_INTERVAL_S", "5")
        if spec is AFFAIRS:
            # The demo lets days pass in seconds: overdue items are looked for every few.
            env.setdefault("LINLI_OVERDUE_SWEEP_S", "3")
        with open(root / "logs" / f"{spec.name}.log", "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", spec.module],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        procs[spec.name] = proc
        state.services[spec.name] = {"pid": proc.pid, "port": port}
        save_state(settings, state)
    for spec in SERVICES:
        if spec.name in procs:
            _wait_serving(spec, state, root, procs[spec.name])
        say(f"{spec.name:<12} 127.0.0.1:{state.services[spec.name]['port']}  (SERVING)")
    state.console = console.up(root, state.services, old.console if old else None)
    save_state(settings, state)
    say(f"{'console':<12} {console.url(state.console['port'])}")
    return state


def _listening(url: str) -> bool:
    port = _saved_port_of(url)
    if port is None:
        return False
    try:
        wait_for_port(port, timeout=0.5)
    except TimeoutError:
        return False
    return True


def _saved_port_of(url: str) -> int | None:
    try:
        return int(url.rsplit(":", 1)[1].split("/", maxsplit=1)[0])
    except (IndexError, ValueError):
        return None


def _saved_port(state: StackState | None, attr: str) -> int | None:
    return None if state is None else _saved_port_of(getattr(state, attr))


def _wait_serving(
    spec: ServiceSpec,
    state: StackState,
    root: Path,
    proc: subprocess.Popen[bytes],
    timeout: float = 60,
) -> None:
    info = state.services[spec.name]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log = (root / "logs" / f"{spec.name}.log").read_text(errors="replace")[-3000:]
            raise SystemExit(f"{spec.name} exited during start-up; its log ends:\n{log}")
        if health_check(f"127.0.0.1:{info['port']}", spec.grpc_service, 1, client_tls()):
            return
        time.sleep(0.2)
    raise SystemExit(f"{spec.name} is not SERVING after {timeout:.0f}s; see {root}/logs/")


def down(settings: Settings) -> None:
    state = load_state(settings)
    if state is None:
        print("nothing is running")
        return
    if state.console and console.stop(state.console["pid"]):
        print("stopped console")
    for name, info in state.services.items():
        if _alive(info["pid"]):
            os.kill(info["pid"], signal.SIGTERM)
            for _ in range(150):
                if not _alive(info["pid"]):
                    break
                time.sleep(0.1)
            else:
                os.kill(info["pid"], signal.SIGKILL)
        print(f"stopped {name}")
    if state.nats_pid and _alive(state.nats_pid):
        os.kill(state.nats_pid, signal.SIGTERM)
        print("stopped NATS")
    if state.postgres_dir:
        port = _saved_port(state, "database_url") or 0
        PostgresServer(Path(state.postgres_dir), port).stop()
        print("stopped PostgreSQL")
    (state_dir(settings) / "state.json").unlink()


def status(settings: Settings) -> int:
    state = load_state(settings)
    if state is None:
        print("nothing is running (make up starts it)")
        return 1
    print(f"PostgreSQL   {state.database_url}")
    print(f"NATS         {redacted(state.nats_url)}")
    ok = True
    for spec in SERVICES:
        info = state.services.get(spec.name)
        serving = info is not None and health_check(
            f"127.0.0.1:{info['port']}", spec.grpc_service, tls=client_tls()
        )
        ok &= serving
        where = f"127.0.0.1:{info['port']}" if info else "-"
        print(f"{spec.name:<12} {where:<18} {'SERVING' if serving else 'NOT SERVING'}")
    running = state.console is not None and console.ready(state.console["port"])
    ok &= running
    where = console.url(state.console["port"]) if state.console else "-"
    print(f"{'console':<12} {where:<18} {'SERVING' if running else 'NOT SERVING'}")
    return 0 if ok else 1


async def migrate(database_url: str) -> None:
    for schema, applied in (await apply_all(database_url)).items():
        print(f"{schema}: {len(applied)} applied" + (f" ({', '.join(applied)})" if applied else ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stack", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status", "migrate"])
    args = parser.parse_args(argv)
    settings = Settings()
    if args.command == "up":
        state = up(settings)
        registry = state.services["registry"]["port"]
        print("\nCall it with any gRPC client, e.g. (token from `make token`):")
        print(
            '  grpcurl -plaintext -H "authorization: Bearer $(make -s token)" '
            f"127.0.0.1:{registry} linli.v1.RegistryService/ListSkills"
        )
        if state.console:
            print(f"The staff console: {console.url(state.console['port'])}")
        print("Stop it with `make down`.")
    elif args.command == "down":
        down(settings)
    elif args.command == "status":
        return status(settings)
    else:
        url = settings.database_url
        if not url:
            state = load_state(settings) or up(settings, quiet=True)
            url = state.database_url
        wait_for_port(int(url.rsplit(":", 1)[1].split("/")[0])) if "127.0.0.1" in url else None
        asyncio.run(migrate(url))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
