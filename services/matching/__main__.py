"""Run the matching service: `python -m services.matching`."""

from __future__ import annotations

import asyncio

from services.common.logs import setup_logging
from services.common.runtime import run_until_signal
from services.common.settings import MatchingSettings
from services.matching.app import build


def main() -> None:
    settings = MatchingSettings()
    setup_logging(settings.log_level)
    settings.refuse_unsafe()
    if not settings.database_url or not settings.nats_url:
        raise SystemExit("set LINLI_DATABASE_URL and LINLI_NATS_URL (make up does it for you)")
    asyncio.run(run_until_signal(build(settings, settings.database_url, settings.nats_url)))


if __name__ == "__main__":
    main()
