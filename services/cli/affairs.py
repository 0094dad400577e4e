"""`linli affairs`: the ledger of residents' concerns (台账): list it, show an item with its
history, export it as an Excel workbook, and its figures per community and street."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Column, Table

from linli.v1 import affairs_pb2 as pb
from services.cli.base import Cli, console, local_time, pass_cli
from services.client import Session
from services.client.ledger import (
    CATEGORIES,
    STAGES,
    handled_by,
    ledger_items,
    who,
    write_workbook,
)

CATEGORY_WORDS = {
    "housing": pb.ITEM_CATEGORY_HOUSING,
    "environment": pb.ITEM_CATEGORY_ENVIRONMENT,
    "parking": pb.ITEM_CATEGORY_PARKING,
    "safety": pb.ITEM_CATEGORY_SAFETY,
    "neighbours": pb.ITEM_CATEGORY_NEIGHBOURS,
    "care": pb.ITEM_CATEGORY_CARE,
    "other": pb.ITEM_CATEGORY_OTHER,
}
STAGE_WORDS = {
    "open": pb.ITEM_STAGE_OPEN,
    "in_community": pb.ITEM_STAGE_IN_COMMUNITY,
    "escalated": pb.ITEM_STAGE_ESCALATED,
    "routed": pb.ITEM_STAGE_ROUTED,
    "resolved": pb.ITEM_STAGE_RESOLVED,
    "closed": pb.ITEM_STAGE_CLOSED,
    "merged": pb.ITEM_STAGE_MERGED,
}


def ledger_filters(command):  # type: ignore[no-untyped-def]
    """The ledger's filters, the same on `list` and `export`."""
    options = [
        click.option("--community", default="", help="the community's id"),
        click.option("--street", default="", help="the street's id"),
        click.option("--grid", default="", help="the grid's id"),
        click.option("--category", type=click.Choice(list(CATEGORY_WORDS)), default=None),
        click.option("--stage", type=click.Choice(list(STAGE_WORDS)), default=None),
        click.option("--overdue", is_flag=True, help="only items past their time limit now"),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _request(
    community: str,
    street: str,
    grid: str,
    category: str | None,
    stage: str | None,
    overdue: bool,
) -> pb.ListItemsRequest:
    return pb.ListItemsRequest(
        community_id=community,
        street_id=street,
        grid_id=grid,
        category=CATEGORY_WORDS[category] if category else pb.ITEM_CATEGORY_UNSPECIFIED,
        stage=STAGE_WORDS[stage] if stage else pb.ITEM_STAGE_UNSPECIFIED,
        overdue_only=overdue,
    )


@click.group(help="The ledger of residents' concerns (台账).")
def affairs() -> None:
    pass


@affairs.command(name="list", help="List the ledger's items, newest first.")
@ledger_filters
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@pass_cli
def list_items(cli: Cli, limit: int, **filters: object) -> None:
    req = _request(**filters)  # type: ignore[arg-type]
    req.page_size = limit

    async def go(s: Session) -> pb.ListItemsResponse:
        return await s.affairs.ListItems(req, metadata=s.md)  # type: ignore[no-any-return]

    reply = cli.call(go)

    def text() -> None:
        table = Table(
            Column("item", no_wrap=True, min_width=36),
            "community",
            "logged (local)",
            "category",
            "stage",
            "handled by",
            "overdue",
            "summary",
        )
        for i in reply.items:
            table.add_row(
                i.id,
                i.community_id,
                local_time(i.create_time, "%m-%d %H:%M"),
                CATEGORIES.get(i.category, "?"),
                STAGES.get(i.stage, "?"),
                handled_by(i),
                "overdue" if i.overdue else "",
                i.summary,
            )
        console.print(table)
        click.echo(
            f"{len(reply.items)} items"
            + (" (more: raise --limit)" if reply.next_page_token else "")
        )

    cli.emit({"items": list(reply.items), "next_page_token": reply.next_page_token}, text)


@affairs.command(help="One item with its history.")
@click.argument("item_id")
@pass_cli
def show(cli: Cli, item_id: str) -> None:
    async def go(s: Session) -> pb.GetItemResponse:
        return await s.affairs.GetItem(pb.GetItemRequest(id=item_id), metadata=s.md)  # type: ignore[no-any-return]

    item = cli.call(go).item

    def text() -> None:
        click.echo(f"{item.summary}")
        click.echo(
            f"  {CATEGORIES.get(item.category, '?')} · {STAGES.get(item.stage, '?')}"
            f" · {item.place} · {item.community_id}/{item.grid_id}"
        )
        click.echo(f"  raised by: {who(item)}")
        click.echo(f"  handled by: {handled_by(item)}")
        if item.outcome:
            click.echo(f"  outcome: {item.outcome}")
        for e in item.history:
            click.echo(f"  {local_time(e.time)}  {e.action:<15} {e.actor:<20} {e.note}")

    cli.emit({"item": item}, text)


@affairs.command(help="Export the ledger as an Excel workbook (.xlsx), oldest first.")
@ledger_filters
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@pass_cli
def export(cli: Cli, out: Path, **filters: object) -> None:
    req = _request(**filters)  # type: ignore[arg-type]

    async def go(s: Session) -> list[pb.Item]:
        return await ledger_items(s, s.md, req)

    items = cli.call(go)
    write_workbook(items, out)
    cli.emit(
        {"items": len(items), "out": str(out)}, lambda: click.echo(f"{len(items)} items → {out}")
    )


@affairs.command(help="The ledger's figures per community and street.")
@click.option("--street", default="", help="only this street")
@pass_cli
def figures(cli: Cli, street: str) -> None:
    async def go(s: Session) -> pb.GetLedgerFiguresResponse:
        return await s.affairs.GetLedgerFigures(  # type: ignore[no-any-return]
            pb.GetLedgerFiguresRequest(street_id=street), metadata=s.md
        )

    reply = cli.call(go)

    def text() -> None:
        table = Table(
            "scope",
            "raised",
            "solved in community",
            "escalated",
            "solved in street",
            "overdue",
            "satisfied",
            "median days",
        )
        for f in [*reply.communities, *reply.streets, reply.total]:
            table.add_row(
                f.scope_id or "all",
                str(f.raised),
                str(f.solved_in_community),
                str(f.escalated),
                str(f.solved_in_street),
                str(f.overdue),
                f"{f.satisfaction_rate:.0%}",
                f"{f.median_days_to_close:.1f}",
            )
        console.print(table)

    cli.emit(
        {
            "communities": list(reply.communities),
            "streets": list(reply.streets),
            "total": reply.total,
        },
        text,
    )
