"""Run the matching service: `python -m services.matching [--rebuild-read-model]`.

With --rebuild-read-model the service first forgets its read model and its durable consumer, so
that it rebuilds both by replaying the LINLI stream from the beginning; matching runs wait until
the service reports SERVING again.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

import asyncpg
from nats.js.errors import NotFoundError

from services.common import eventbus
from services.common.clock import clock_for
from services.common.runtime import serve
from services.common.settings import MatchingSettings
from services.matching.app import SCHEMA, build, standby_durable


async def forget(settings: MatchingSettings) -> None:
    """Drop the read model and the durable consumer; the next start replays the stream."""
    assert settings.database_url and settings.nats_url
    conn = await asyncpg.connect(settings.database_url)
    try:
        await conn.execute(f'SET search_path TO "{SCHEMA}"')
        async with conn.transaction():
            await conn.execute("TRUNCATE community, member, task, assignment, refusal")
            if await conn.fetchval("SELECT to_regclass('standby') IS NOT NULL"):
                await conn.execute("TRUNCATE standby")  # absent until its migration has run
            await conn.execute(
                "DELETE FROM inbox WHERE consumer = ANY($1::text[])",
                [settings.durable, standby_durable(settings)],
            )
    finally:
        await conn.close()
    nc = await eventbus.connect(settings.nats_url, "linli-matching-rebuild", **settings.nats_auth())
    try:
        for durable in (settings.durable, standby_durable(settings)):
            with contextlib.suppress(NotFoundError):
                await nc.jetstream().delete_consumer(settings.stream_name, durable)
    finally:
        await nc.drain()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.matching", description=__doc__)
    parser.add_argument("--rebuild-read-model", action="store_true")
    args = parser.parse_args()
    s = MatchingSettings()
    if args.rebuild_read_model:
        s.refuse_unsafe()
        if not s.database_url or not s.nats_url:
            raise SystemExit("set LINLI_DATABASE_URL and LINLI_NATS_URL")
        asyncio.run(forget(s))
    serve(s, lambda: build(s, s.database_url or "", s.nats_url or "", clock_for(s.clock_file)))


if __name__ == "__main__":
    main()
