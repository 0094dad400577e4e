"""`linli member`: members and their service records."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from linli.v1 import registry_pb2, tasks_pb2
from services.cli.base import Cli, console, pass_cli
from services.client import Session, export_member


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


@member.command(
    help="Export what Linli holds about a member, from every service, as one JSON file."
)
@click.argument("member_id")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="The file to write (readable by its owner only: it holds the member's phone and home).",
)
@pass_cli
def export(cli: Cli, member_id: str, out: Path) -> None:
    async def go(s: Session) -> dict[str, Any]:
        return await export_member(s, s.md, member_id)

    document = cli.call(go)
    text = json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    # Created owner-only before anything is written, so the data is never readable by others.
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    summary = {"member_id": member_id, "file": str(out), "parts": sorted(document["parts"])}
    cli.emit(
        summary,
        lambda: console.print(
            f"wrote {escape(str(out))}: {', '.join(summary['parts'])} parts of {member_id}"
        ),
    )


@member.command(help="Erase a member at their request: their personal data goes, for good.")
@click.argument("member_id")
@click.option("--reason", default="", help="Why, for the record (no personal data).")
@click.confirmation_option(prompt="Erase this member for good? This cannot be undone.")
@pass_cli
def erase(cli: Cli, member_id: str, reason: str) -> None:
    async def go(s: Session) -> registry_pb2.EraseMemberResponse:
        return await s.registry.EraseMember(  # type: ignore[no-any-return]
            registry_pb2.EraseMemberRequest(member_id=member_id, reason=reason), metadata=s.md
        )

    done = cli.call(go)
    cli.emit(done, lambda: console.print(f"erased {done.member_id}"))
