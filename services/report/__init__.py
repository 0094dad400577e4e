"""The month's report, made from a running system through its APIs with the caller's token:
`linli report --month 2026-12 [--community C] --out FILE` (see docs/report.md)."""

from __future__ import annotations

from pathlib import Path

from services.client import Session
from services.report.data import Data, ReportError, collect, month_bounds
from services.report.render import render, write

__all__ = ["Data", "ReportError", "collect", "make", "month_bounds", "render", "write"]


async def make(
    session: Session, month: str, out: Path, community: str | None = None
) -> tuple[Path, Data]:
    """Collect the month (optionally one community) as the session's caller and write the page."""
    since, until = month_bounds(month)
    data = await collect(session, session.md, since=since, until=until, community=community)
    data.scope = month + (f" · {community}" if community else "")
    return write(out, data), data
