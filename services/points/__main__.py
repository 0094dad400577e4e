"""Run the points service: `python -m services.points`."""

from __future__ import annotations

from services.common.clock import clock_for
from services.common.runtime import serve
from services.common.settings import PointsSettings
from services.points.app import build


def main() -> None:
    s = PointsSettings()
    serve(s, lambda: build(s, s.database_url or "", s.nats_url or "", clock_for(s.clock_file)))


if __name__ == "__main__":
    main()
