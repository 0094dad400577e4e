"""One log format for every service: a line per record, key=value where it matters.

A record is one line whatever it quotes: line breaks inside a message are escaped, so a value
from a caller cannot start a line of its own (a forged record). Tracebacks stay as they are.
"""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class OneLineFormatter(logging.Formatter):
    def formatMessage(self, record: logging.LogRecord) -> str:
        text = super().formatMessage(record)
        return text.replace("\n", "\\n").replace("\r", "\\r")


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(OneLineFormatter(FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler])
    # nats-py logs every reconnect attempt at ERROR; our callbacks say it once, at WARNING.
    logging.getLogger("nats.aio.client").setLevel(logging.CRITICAL)
