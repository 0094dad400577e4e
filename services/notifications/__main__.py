"""Run the notifications service: `python -m services.notifications`."""

from __future__ import annotations

from services.common.clock import clock_for
from services.common.runtime import serve
from services.common.settings import NotificationsSettings
from services.notifications.app import build


def main() -> None:
    s = NotificationsSettings()
    serve(
        s, lambda: build(s, s.database_url or "", s.nats_url or "", clock=clock_for(s.clock_file))
    )


if __name__ == "__main__":
    main()
