"""Per-service schema migrations: ordered plain SQL files, applied once each, recorded in a table.

Every service owns one PostgreSQL schema. Its migrations live in
`<service>/migrations/NNNN_name.sql` and run in name order, each in its own transaction with its
record. A session-level advisory lock makes it safe for two processes (two replicas starting, or
`make migrate` beside a running service) to apply at once: the second waits, then finds nothing
left to do. An applied file that was later edited is refused rather than silently skipped.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)

# One lock for all services' migrations: they are few and quick, and one lock cannot deadlock.
_LOCK_KEY = 0x4C494E4C49  # "LINLI"


@dataclass(frozen=True)
class Migration:
    version: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


class MigrationError(RuntimeError):
    pass


# The event bus's tables (outbox, inbox) come first in every service's schema.
EVENT_BUS = Path(__file__).parent / "migrations"


def discover(folder: Path) -> list[Migration]:
    """The folder's migrations in order, versioned as `<package>:<file stem>`."""
    files = sorted(folder.glob("*.sql"))
    numbers = [p.stem.split("_", 1)[0] for p in files]
    if len(set(numbers)) != len(numbers):
        raise MigrationError(f"two migrations share a number in {folder}")
    return [Migration(f"{folder.parent.name}:{p.stem}", p) for p in files]


async def apply(conn: asyncpg.Connection, schema: str, folder: Path) -> list[str]:
    """Apply the event bus's and then the folder's pending migrations to `schema`.

    Returns the versions applied by this call (empty when everything was already there).
    """
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await conn.execute(
            f"""CREATE TABLE IF NOT EXISTS "{schema}".schema_migrations (
                    version    text PRIMARY KEY,
                    checksum   text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {
            r["version"]: r["checksum"]
            for r in await conn.fetch(f'SELECT version, checksum FROM "{schema}".schema_migrations')
        }
        for migration in [*discover(EVENT_BUS), *discover(folder)]:
            if migration.version in done:
                if done[migration.version] != migration.checksum:
                    raise MigrationError(
                        f"{schema} migration {migration.version} was changed after it was applied"
                    )
                continue
            async with conn.transaction():
                await conn.execute(f'SET LOCAL search_path TO "{schema}", public')
                await conn.execute(migration.sql)
                await conn.execute(
                    f'INSERT INTO "{schema}".schema_migrations (version, checksum) VALUES ($1, $2)',
                    migration.version,
                    migration.checksum,
                )
            applied_now.append(migration.version)
            log.info("applied migration %s.%s", schema, migration.version)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied_now
