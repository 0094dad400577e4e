"""Apply every service's migrations: `python -m services.common.migrate_all` (the Kubernetes
migration Job, and `make migrate`). Safe beside running services: one advisory lock serialises
all migrations."""

from __future__ import annotations

import asyncio

import asyncpg

from services.common import migrations
from services.common.service_list import SERVICES
from services.common.settings import Settings


async def apply_all(database_url: str) -> dict[str, list[str]]:
    conn = await asyncpg.connect(database_url)
    try:
        return {
            spec.schema: await migrations.apply(conn, spec.schema, spec.migrations)
            for spec in SERVICES
        }
    finally:
        await conn.close()


def main() -> None:
    settings = Settings()
    if not settings.database_url:
        raise SystemExit("set LINLI_DATABASE_URL")
    for schema, applied in asyncio.run(apply_all(settings.database_url)).items():
        print(f"{schema}: {len(applied)} applied" + (f" ({', '.join(applied)})" if applied else ""))


if __name__ == "__main__":
    main()
