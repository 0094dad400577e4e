"""Run the task service: `python -m services.tasks`."""

from __future__ import annotations

import asyncio

from services.common.clock import clock_for
from services.common.logs import setup_logging
from services.common.runtime import run_until_signal
from services.common.settings import TasksSettings
from services.tasks.app import build


def main() -> None:
    settings = TasksSettings()
    setup_logging(settings.log_level)
    settings.refuse_unsafe()
    if not settings.database_url or not settings.nats_url:
        raise SystemExit("set LINLI_DATABASE_URL and LINLI_NATS_URL (make up does it for you)")
    clock = clock_for(settings.clock_file)
    asyncio.run(run_until_signal(build(settings, settings.database_url, settings.nats_url, clock)))


if __name__ == "__main__":
    main()
