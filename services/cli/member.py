"""`linli member`: members, their service records, and the staff's decisions on their standing
(report-ins to accept or refuse, certificates to verify)."""

from __future__ import annotations

import json
import os
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from linli.v1 import registry_pb2, tasks_pb2
from services.cli.base import Cli, console, pass_cli
from services.client import Session, export_member, pages
from services.common.protoconv import time_from_proto, ts
from services.common.values import LOCAL_TZ


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


# -- the staff's decisions on a member's standing --------------------------------------------


def _standing(found: registry_pb2.Member) -> str:
    state = registry_pb2.ReportInState.Name(found.report_in_state)
    return state.removeprefix("REPORT_IN_STATE_").lower().replace("unspecified", "not reported in")


@member.command(help="The report-ins waiting for a community's staff, oldest member id first.")
@click.option("--community", required=True, help="The community whose queue to show.")
@pass_cli
def pending(cli: Cli, community: str) -> None:
    async def go(s: Session) -> list[registry_pb2.Member]:
        return await pages(
            s.registry.ListMembers,
            registry_pb2.ListMembersRequest(
                community_id=community,
                report_in_state=registry_pb2.REPORT_IN_STATE_PENDING,
                page_size=1000,
            ),
            "members",
            s.md,
        )

    found = cli.call(go)

    def text() -> None:
        for m in found:
            when = time_from_proto(m.reported_in_time).astimezone(LOCAL_TZ).date().isoformat()
            console.print(f"{m.id}  {escape(m.name)}  grid {m.grid_id}  reported in {when}")
        console.print(f"{len(found)} report-in(s) pending in {community}")

    cli.emit({"members": found}, text)


@member.command(help="Accept a member's pending report-in to their community.")
@click.argument("member_id")
@pass_cli
def accept(cli: Cli, member_id: str) -> None:
    async def go(s: Session) -> registry_pb2.Member:
        reply = await s.registry.AcceptReportIn(
            registry_pb2.AcceptReportInRequest(member_id=member_id), metadata=s.md
        )
        return reply.member

    found = cli.call(go)
    cli.emit({"member": found}, lambda: console.print(f"{found.id}: {_standing(found)}"))


@member.command(help="Refuse a member's pending report-in, telling them why.")
@click.argument("member_id")
@click.option("--reason", required=True, help="Why, for the member.")
@pass_cli
def refuse(cli: Cli, member_id: str, reason: str) -> None:
    async def go(s: Session) -> registry_pb2.Member:
        reply = await s.registry.RefuseReportIn(
            registry_pb2.RefuseReportInRequest(member_id=member_id, reason=reason), metadata=s.md
        )
        return reply.member

    found = cli.call(go)
    cli.emit({"member": found}, lambda: console.print(f"{found.id}: {_standing(found)}"))


@member.command(help="Verify a member's skill that needs proof against a certificate.")
@click.argument("member_id")
@click.option("--skill", required=True, help="The skill's code, e.g. medical.")
@click.option("--certificate", "number", required=True, help="The certificate's number.")
@click.option(
    "--expires",
    required=True,
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="The last day the certificate is valid (YYYY-MM-DD, local time).",
)
@pass_cli
def verify(cli: Cli, member_id: str, skill: str, number: str, expires: datetime) -> None:
    # Valid through that day: it ends at the next local midnight.
    end = datetime.combine(expires.date() + timedelta(days=1), time(), tzinfo=LOCAL_TZ)

    async def go(s: Session) -> registry_pb2.Member:
        reply = await s.registry.VerifySkill(
            registry_pb2.VerifySkillRequest(
                member_id=member_id, skill=skill, certificate_number=number, expire_time=ts(end)
            ),
            metadata=s.md,
        )
        return reply.member

    found = cli.call(go)
    cli.emit(
        {"member": found},
        lambda: console.print(f"{found.id}: {skill} verified until {expires.date()}"),
    )


@member.command(help="End the verification of a member's skill (a revoked certificate).")
@click.argument("member_id")
@click.option("--skill", required=True, help="The skill's code.")
@click.option("--reason", default="", help="Why, for the record.")
@pass_cli
def unverify(cli: Cli, member_id: str, skill: str, reason: str) -> None:
    async def go(s: Session) -> registry_pb2.Member:
        reply = await s.registry.WithdrawSkillVerification(
            registry_pb2.WithdrawSkillVerificationRequest(
                member_id=member_id, skill=skill, reason=reason
            ),
            metadata=s.md,
        )
        return reply.member

    found = cli.call(go)
    cli.emit({"member": found}, lambda: console.print(f"{found.id}: {skill} no longer verified"))
