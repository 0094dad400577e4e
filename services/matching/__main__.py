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
from services.common.logs import setup_logging
from services.common.runtime import run_until_signal
from services.common.settings import MatchingSettings
from services.matching.app import SCHEMA, build


async def forget(settings: MatchingSettings) -> None:
    """Drop the read model and the durable consumer; the next start replays the stream."""
    assert settings.database_url and settings.nats_url
    conn = await asyncpg.connect(settings.database_url)
    try:
        await conn.execute(f'SET search_path TO "{SCHEMA}"')
        async with conn.transaction():
            await conn.execute("TRUNCATE community, member, task, commitment, refusal")
            await conn.execute("DELETE FROM inbox WHERE consumer = $1", settings.durable)
    finally:
        await conn.close()
    nc = await eventbus.connect(settings.nats_url, "linli-matching-rebuild")
    try:
        with contextlib.suppress(NotFoundError):
            await nc.jetstream().delete_consumer(settings.stream_name, settings.durable)
    finally:
        await nc.drain()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.matching", description=__doc__)
    parser.add_argument("--rebuild-read-model", action="store_true")
    args = parser.parse_args()
    settings = MatchingSettings()
    setup_logging(settings.log_level)
    settings.refuse_unsafe()
    if not settings.database_url or not settings.nats_url:
        raise SystemExit("set LINLI_DATABASE_URL and LINLI_NATS_URL (make up does it for you)")
    if args.rebuild_read_model:
        asyncio.run(forget(settings))
    clock = clock_for(settings.clock_file)
    asyncio.run(run_until_signal(build(settings, settings.database_url, settings.nats_url, clock)))


if __name__ == "__main__":
    main()
