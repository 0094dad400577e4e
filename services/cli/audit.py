"""`linli audit`: who read or changed whose personal data, from every service's audit log
(district administrators only)."""

from __future__ import annotations

import click
from google.protobuf import timestamp_pb2

from linli.v1 import audit_pb2
from services.cli.base import Cli, When, local_time, pass_cli
from services.client import Session
from services.client.audit import audit_log

KINDS = {audit_pb2.AUDIT_KIND_WRITE: "change", audit_pb2.AUDIT_KIND_REVEAL: "read"}


@click.command(help="The audit log: reads of phones, homes and addresses, and every change.")
@click.option("--member", "member_id", default="", help="entries concerning this member")
@click.option("--actor", default="", help="entries made by this principal (its subject)")
@click.option("--since", type=When(), default=None, help="from this time (local unless given)")
@click.option("--until", type=When(), default=None, help="before this time")
@pass_cli
def audit(
    cli: Cli,
    member_id: str,
    actor: str,
    since: timestamp_pb2.Timestamp | None,
    until: timestamp_pb2.Timestamp | None,
) -> None:
    if not (member_id or actor or since or until):
        raise click.UsageError("say whose or whose acts: --member, --actor, --since or --until")

    async def go(s: Session) -> list[audit_pb2.AuditEntry]:
        return await audit_log(s, s.md, member_id=member_id, actor=actor, since=since, until=until)

    found = cli.call(go)

    def text() -> None:
        # One line per entry, ids in full, whatever the terminal's width: lines to grep and to
        # paste back into other commands.
        rows = [
            (
                local_time(e.time, "%Y-%m-%d %H:%M:%S"),
                e.service,
                e.actor,
                KINDS.get(e.kind, "?"),
                ",".join(e.revealed) or e.action,
                f"member {e.member_id}" if e.member_id else "-",
                f"task {e.task_id}" if e.task_id else "-",
                e.method.rsplit("/", 1)[-1],
                e.request_id,
            )
            for e in found
        ]
        header = (
            "time (local)",
            "service",
            "actor",
            "kind",
            "what",
            "whose",
            "task",
            "call",
            "request id",
        )
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            click.echo(
                "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            )
        click.echo(f"{len(found)} entries")

    cli.emit({"entries": found}, text)
