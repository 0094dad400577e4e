"""Run the affairs service: `python -m services.affairs`."""

from __future__ import annotations

from services.affairs.app import build
from services.common.clock import clock_for
from services.common.runtime import serve
from services.common.settings import AffairsSettings


def main() -> None:
    s = AffairsSettings()
    # The movable clock of a developer's machine (LINLI_CLOCK_FILE, dev mode only).
    serve(s, lambda: build(s, s.database_url or "", s.nats_url or "", clock_for(s.clock_file)))


if __name__ == "__main__":
    main()
