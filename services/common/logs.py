"""One log format for every service: a line per record, key=value where it matters."""

from __future__ import annotations

import logging


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    # nats-py logs every reconnect attempt at ERROR; our callbacks say it once, at WARNING.
    logging.getLogger("nats.aio.client").setLevel(logging.CRITICAL)
