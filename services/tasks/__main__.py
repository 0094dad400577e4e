"""Run the task service: `python -m services.tasks`."""

from __future__ import annotations

from services.common.clock import clock_for
from services.common.runtime import serve
from services.common.settings import TasksSettings
from services.tasks.app import build


def main() -> None:
    s = TasksSettings()
    serve(s, lambda: build(s, s.database_url or "", s.nats_url or "", clock_for(s.clock_file)))


if __name__ == "__main__":
    main()
