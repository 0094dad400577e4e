"""`linli report`: the month's report from a running system, as the caller sees it."""

from __future__ import annotations

from pathlib import Path

import click

from services.cli.base import Cli, Month, console, pass_cli
from services.client import Session
from services.report import ReportError, make


@click.command(help="The month's report as one HTML file (needs --token or LINLI_TOKEN).")
@click.option("--month", required=True, type=Month(), help="e.g. 2026-12")
@click.option("--community", default=None, help="only this community")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="the HTML file to write",
)
@pass_cli
def report(cli: Cli, month: str, community: str | None, out: Path) -> None:
    async def go(s: Session) -> Path:
        path, _ = await make(s, month, out, community)
        return path

    try:
        path = cli.call(go, local_admin=False)
    except ReportError as e:
        raise click.BadParameter(str(e), param_hint="--community") from e
    cli.emit({"report": str(path)}, lambda: console.print(f"report: {path}", soft_wrap=True))
