"""`linli member`: members and their service records."""

from __future__ import annotations

import click
from rich.markup import escape

from linli.v1 import registry_pb2, tasks_pb2
from services.cli.base import Cli, console, pass_cli
from services.client import Session


@click.group(help="Members.")
def member() -> None:
    pass


@member.command(help="A member's service record.")
@click.argument("member_id")
@pass_cli
def record(cli: Cli, member_id: str) -> None:
    async def go(s: Session) -> tuple[registry_pb2.Member, tasks_pb2.MemberRecord]:
        found = (
            await s.registry.GetMember(registry_pb2.GetMemberRequest(id=member_id), metadata=s.md)
        ).member
        rec = (
            await s.tasks.GetMemberRecord(
                tasks_pb2.GetMemberRecordRequest(member_id=member_id), metadata=s.md
            )
        ).record
        return found, rec

    found, rec = cli.call(go)

    def text() -> None:
        console.print(
            f"[bold]{escape(found.name)}[/] ({found.community_id or 'not reported in'}), "
            f"phone {found.phone}, {found.hours_per_month} h/month offered"
        )
        console.print(
            f"hours this month {rec.hours_this_month:g}, this year "
            f"{rec.hours_this_year:g}, in all {rec.hours_total:g}; tasks done "
            f"{rec.tasks_done}, no-shows {rec.no_shows}, upcoming {rec.upcoming}"
        )

    cli.emit({"member": found, "record": rec}, text)
