"""The asyncpg pool every service uses."""

from __future__ import annotations

import asyncpg

from services.common.settings import Settings


async def create_pool(settings: Settings, url: str, schema: str) -> asyncpg.Pool:
    """A pool whose connections see the service's own schema first (and nothing else of ours)."""
    pool = await asyncpg.create_pool(
        url,
        min_size=settings.db_pool_min,
        max_size=settings.db_pool_max,
        server_settings={
            "application_name": f"linli-{settings.service_name}",
            "search_path": f'"{schema}", public',
        },
    )
    assert pool is not None
    return pool
