"""Run the registry service: `python -m services.registry`."""

from __future__ import annotations

import asyncio

from services.common.logs import setup_logging
from services.common.runtime import run_until_signal
from services.common.settings import RegistrySettings
from services.registry.app import build


def main() -> None:
    settings = RegistrySettings()
    setup_logging(settings.log_level)
    settings.refuse_unsafe()
    if not settings.database_url or not settings.nats_url:
        raise SystemExit("set LINLI_DATABASE_URL and LINLI_NATS_URL (make up does it for you)")
    asyncio.run(run_until_signal(build(settings, settings.database_url, settings.nats_url)))


if __name__ == "__main__":
    main()
