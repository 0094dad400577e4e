"""What time it is for a service: the real time, or, on a developer's machine, the real time
moved by an offset kept in a file (so that a demo can let a month pass in a minute).

The file holds a number of seconds. It is read at most once a second, and only when
LINLI_CLOCK_FILE is set, which `refuse_unsafe` allows in dev mode only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


class FileClock:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._offset = 0.0
        self._read_at = 0.0

    def __call__(self) -> datetime:
        if time.monotonic() - self._read_at > 1.0:
            try:
                self._offset = float(self.path.read_text().strip() or 0)
            except (OSError, ValueError):
                self._offset = 0.0
            self._read_at = time.monotonic()
        return datetime.now(UTC) + timedelta(seconds=self._offset)

    def set(self, offset: timedelta) -> None:
        self.path.write_text(f"{offset.total_seconds():.0f}\n")
        self._read_at = 0.0


def clock_for(clock_file: str | None) -> Clock:
    return FileClock(clock_file) if clock_file else system_clock
