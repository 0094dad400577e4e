"""`linli tasks`: the tasks of a community."""

from __future__ import annotations

import click
from rich.table import Column, Table

from linli.v1 import tasks_pb2
from services.cli.base import GROUPS, STATUSES, Cli, console, local_time, pass_cli
from services.client import Session


@click.group(help="Tasks.")
def tasks() -> None:
    pass


@tasks.command(name="list", help="List tasks, soonest first.")
@click.option("--community", default="", help="the community's id (staff: their own)")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(list(STATUSES), case_sensitive=False),
    help="repeatable",
)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@pass_cli
def list_tasks(cli: Cli, community: str, statuses: tuple[str, ...], limit: int) -> None:
    req = tasks_pb2.ListTasksRequest(
        community_id=community,
        page_size=limit,
        statuses=[STATUSES[s.lower()] for s in statuses],
    )

    async def go(s: Session) -> tasks_pb2.ListTasksResponse:
        return await s.tasks.ListTasks(req, metadata=s.md)  # type: ignore[no-any-return]

    reply = cli.call(go)

    def text() -> None:
        # Ids in full: every id the command prints is one it accepts.
        table = Table(
            Column("task", no_wrap=True, min_width=36),
            "community",
            "title",
            "group",
            "starts (local)",
            "places",
            "status",
        )
        names = {v: k for k, v in GROUPS.items()}
        states = {v: k for k, v in STATUSES.items()}
        for t in reply.tasks:
            table.add_row(
                t.id,
                t.community_id,
                t.title,
                names.get(t.beneficiary_group, "?"),
                local_time(t.window.start, "%m-%d %H:%M")
                + (" (any time before)" if t.window.flexible else ""),
                f"{t.places_taken}/{t.headcount}",
                states.get(t.status, "?"),
            )
        console.print(table)

    cli.emit({"tasks": list(reply.tasks)}, text)
