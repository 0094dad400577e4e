"""`linli`: what staff and administrators do, through the services' gRPC APIs.

    linli district load district.yaml --members members.csv
    linli wish post --community chengli --title "为独居老人代购" --group elderly \\
        --at 36.98,117.17 --start 2026-12-05T09:00 --hours 1.5
    linli role create --community chengli --title "四点半学校" --group child --at 36.98,117.17 \\
        --days mon,tue,wed,thu,fri --from 16:30 --to 18:00 --first-date 2026-12-01 \\
        --headcount 3 --hours 1.5 --skill tutoring:2 --unit u-chengli-primary
    linli tasks list --community chengli --status open
    linli match run --community chengli            (or --street jiyang, or the whole district)
    linli member record <member id>
    linli token --role community_staff --community binhu

Addresses come from `make up`'s state (.linli/stack/state.json) or the default ports; override
with --registry/--tasks/--matching. The token comes from --token or LINLI_TOKEN; without one,
the command signs a district administrator's token with the local key (LINLI_JWT_SECRET or the
development key), which only a local system accepts.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import grpc
from google.protobuf import timestamp_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc import aio
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from linli.v1 import common_pb2, matching_pb2, registry_pb2, tasks_pb2
from linli.v1.matching_pb2_grpc import MatchingServiceStub
from linli.v1.registry_pb2_grpc import RegistryServiceStub
from linli.v1.tasks_pb2_grpc import TaskServiceStub
from services.cli.district import import_district, import_members, read_members_csv
from services.client import Session, addresses, token_from
from services.common.auth import Principal, Role, issue_token
from services.common.settings import Settings
from services.report import ReportError, month_bounds
from services.report import make as make_report

LOCAL = ZoneInfo("Asia/Shanghai")
GROUPS = {
    "elderly": common_pb2.BENEFICIARY_GROUP_ELDERLY,
    "child": common_pb2.BENEFICIARY_GROUP_CHILD,
    "disabled": common_pb2.BENEFICIARY_GROUP_DISABLED,
    "poor": common_pb2.BENEFICIARY_GROUP_POOR,
    "other": common_pb2.BENEFICIARY_GROUP_OTHER,
}
DAYS = {
    name: common_pb2.DayOfWeek.Value(f"DAY_OF_WEEK_{full}")
    for name, full in (
        ("mon", "MONDAY"),
        ("tue", "TUESDAY"),
        ("wed", "WEDNESDAY"),
        ("thu", "THURSDAY"),
        ("fri", "FRIDAY"),
        ("sat", "SATURDAY"),
        ("sun", "SUNDAY"),
    )
}
STATUSES = {
    name: getattr(tasks_pb2, f"TASK_STATUS_{name.upper()}")
    for name in ("open", "filled", "closed", "completed", "cancelled", "expired")
}
console = Console()
err = Console(stderr=True)


class UsageError(Exception):
    pass


def _addresses(args: argparse.Namespace) -> dict[str, str]:
    return addresses({name: getattr(args, name) for name in ("registry", "tasks", "matching")})


def _token(args: argparse.Namespace) -> str:
    return token_from(args.token) or issue_token(
        Settings(), Principal("linli-cli", Role.DISTRICT_ADMIN)
    )


def _when(text: str) -> timestamp_pb2.Timestamp:
    """A time in local (Shanghai) time unless it names its own offset."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError as e:
        raise UsageError(f"not a time: {text!r} (use e.g. 2026-12-05T09:00)") from e
    if value.tzinfo is None:
        value = value.replace(tzinfo=LOCAL)
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(value.astimezone(UTC))
    return out


def _at(text: str) -> common_pb2.LatLng:
    try:
        lat, lng = (float(x) for x in text.split(","))
    except ValueError as e:
        raise UsageError(f"--at takes LAT,LNG (got {text!r})") from e
    return common_pb2.LatLng(latitude=lat, longitude=lng)


def _skills(values: list[str]) -> list[tasks_pb2.RequiredSkill]:
    out = []
    for v in values:
        code, _, level = v.partition(":")
        out.append(tasks_pb2.RequiredSkill(skill=code, min_level=int(level or 1)))
    return out


def _minutes(hhmm: str) -> int:
    hours, _, minutes = hhmm.partition(":")
    return int(hours) * 60 + int(minutes or 0)


def _group(name: str) -> common_pb2.BeneficiaryGroup.ValueType:
    if name not in GROUPS:
        raise UsageError(f"--group is one of {', '.join(GROUPS)}")
    return GROUPS[name]


# -- commands ------------------------------------------------------------------------------------


async def cmd_district_load(args: argparse.Namespace, stubs: dict[str, Any], md: Any) -> None:
    registry: RegistryServiceStub = stubs["registry"]
    text = await asyncio.to_thread(Path(args.file).read_text, encoding="utf-8")
    org = await import_district(registry, md, text)
    console.print(
        f"organisation: {org.streets_created} streets, {org.communities_created} "
        f"communities, {org.grids_created} grids, {org.building_groups_created} "
        f"building groups, {org.units_created} units created; {org.unchanged} unchanged"
    )
    if args.members:
        rows = read_members_csv(
            await asyncio.to_thread(Path(args.members).read_text, encoding="utf-8")
        )
        with Progress(
            TextColumn("members"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            bar = progress.add_task("members", total=len(rows))
            report = await import_members(
                registry, md, rows, progress=lambda n: progress.update(bar, completed=n)
            )
        console.print(
            f"members: {report.registered} registered, {report.already_registered} "
            f"already registered, {len(report.errors)} rejected"
        )
        for line, request_id, why in report.errors[:20]:
            console.print(f"  [red]line {line}[/] ({request_id}): {why}")


async def cmd_wish_post(args: argparse.Namespace, stubs: dict[str, Any], md: Any) -> None:
    if bool(args.start) == bool(args.until):
        raise UsageError("give --start (a fixed time) or --until (any time before), not both")
    if args.start:
        start = _when(args.start)
        end = (
            _when(args.end)
            if args.end
            else timestamp_pb2.Timestamp(seconds=start.seconds + int(max(args.hours, 1.0) * 3600))
        )
        window = tasks_pb2.TimeWindow(start=start, end=end)
    else:
        window = tasks_pb2.TimeWindow(end=_when(args.until), flexible=True)
    reply = await stubs["tasks"].PostWish(
        tasks_pb2.PostWishRequest(
            request_id=args.request_id or f"cli-{datetime.now(UTC).timestamp():.6f}",
            wish=tasks_pb2.Wish(
                community_id=args.community,
                title=args.title,
                description=args.description,
                beneficiary_group=_group(args.group),
                location=_at(args.at),
                address=args.address,
                skills=_skills(args.skill),
                headcount=args.headcount,
                window=window,
                effort_hours=args.hours,
            ),
        ),
        metadata=md,
    )
    console.print(
        f"posted wish {reply.wish.id}: task [bold]{reply.task.id}[/] "
        f"({reply.task.headcount} place(s))"
    )


async def cmd_role_create(args: argparse.Namespace, stubs: dict[str, Any], md: Any) -> None:
    role = tasks_pb2.VolunteerRole(
        community_id=args.community,
        unit_id=args.unit,
        title=args.title,
        description=args.description,
        beneficiary_group=_group(args.group),
        location=_at(args.at),
        skills=_skills(args.skill),
        headcount=args.headcount,
        effort_hours=args.hours,
        street_wide=args.street_wide,
    )
    if args.once:
        start = _when(args.once)
        end = timestamp_pb2.Timestamp(seconds=start.seconds + int(args.hours * 3600))
        role.once.window.CopyFrom(tasks_pb2.TimeWindow(start=start, end=end))
    else:
        if not (args.days and args.start_time and args.end_time and args.first_date):
            raise UsageError(
                "a weekly role needs --days, --from, --to and --first-date (or use --once TIME)"
            )
        first = date.fromisoformat(args.first_date)
        role.weekly.CopyFrom(
            tasks_pb2.WeeklySchedule(
                days=[DAYS[d] for d in args.days.split(",")],
                start_minute=_minutes(args.start_time),
                end_minute=_minutes(args.end_time),
                first_date=common_pb2.Date(year=first.year, month=first.month, day=first.day),
            )
        )
        if args.last_date:
            last = date.fromisoformat(args.last_date)
            role.weekly.last_date.CopyFrom(
                common_pb2.Date(year=last.year, month=last.month, day=last.day)
            )
    reply = await stubs["tasks"].CreateRole(
        tasks_pb2.CreateRoleRequest(
            request_id=args.request_id or f"cli-{datetime.now(UTC).timestamp():.6f}", role=role
        ),
        metadata=md,
    )
    console.print(
        f"created role [bold]{reply.role.id}[/]: {reply.tasks_generated} task(s) "
        "generated for the coming weeks"
    )


async def cmd_tasks_list(args: argparse.Namespace, stubs: dict[str, Any], md: Any) -> None:
    reply = await stubs["tasks"].ListTasks(
        tasks_pb2.ListTasksRequest(
            community_id=args.community,
            page_size=args.limit,
            statuses=[STATUSES[s] for s in args.status],
        ),
        metadata=md,
    )
    table = Table("task", "community", "title", "group", "starts (local)", "places", "status")
    names = {v: k for k, v in GROUPS.items()}
    states = {v: k for k, v in STATUSES.items()}
    for t in reply.tasks:
        start = t.window.start.ToDatetime(UTC).astimezone(LOCAL).strftime("%m-%d %H:%M")
        table.add_row(
            t.id[:8],
            t.community_id,
            t.title,
            names.get(t.beneficiary_group, "?"),
            start + (" (any time before)" if t.window.flexible else ""),
            f"{t.places_taken}/{t.headcount}",
            states.get(t.status, "?"),
        )
    console.print(table)


def show_run(run: matching_pb2.MatchRun) -> None:
    scope = f"{run.scope_kind} {run.scope_id}".strip()
    table = Table(
        title=f"match run {run.id} ({scope}{', dry run' if run.dry_run else ''})", show_header=False
    )
    rows = [
        ("solver", f"{run.solver_status}, gap {run.gap * 100:.3f} % to the proven bound"),
        (
            "input",
            f"{run.members:,} members, {run.tasks:,} tasks, {run.places:,} places, "
            f"{run.candidate_pairs:,} candidate pairs, {run.components} sub-problems",
        ),
        (
            "time",
            f"load {run.load_s:.2f}s, candidates {run.candidates_s:.2f}s, "
            f"solve {run.solve_s:.2f}s, write {run.write_s:.2f}s",
        ),
        (
            "filled",
            f"{run.places_filled:,} of {run.places:,} places "
            f"(first come first served: {run.fcfs_places_filled:,})",
        ),
        (
            "value",
            f"{run.objective:,.0f} points, bound {run.bound:,.0f} "
            f"(first come first served: {run.fcfs_objective:,.0f})",
        ),
        ("by group", ", ".join(f"{g.group} {g.filled}/{g.places}" for g in run.filled_by_group)),
        (
            "distance",
            f"mean {run.mean_distance_m:.0f} m, 95th percentile {run.p95_distance_m:.0f} m",
        ),
        (
            "load",
            f"{run.members_used:,} members used, hours stdev {run.hours_stdev:.2f}, "
            f"at most {run.most_places} places each",
        ),
    ]
    for k, v in rows:
        table.add_row(k, v)
    console.print(table)


async def cmd_match_run(args: argparse.Namespace, stubs: dict[str, Any], md: Any) -> None:
    request = matching_pb2.RunMatchingRequest(
        community_id=args.community or "",
        street_id=args.street or "",
        dry_run=args.dry_run,
        time_limit_s=args.time_limit,
    )
    with console.status("planning every open place (flow plan, then the exact model)…"):
        reply = await stubs["matching"].RunMatching(
            request, metadata=md, timeout=args.time_limit + 120
        )
    show_run(reply.run)
    unfilled = await stubs["matching"].ListUnfilledPlaces(
        matching_pb2.ListUnfilledPlacesRequest(run_id=reply.run.id, page_size=1000), metadata=md
    )
    reasons: dict[str, int] = {}
    for u in unfilled.places:
        reasons[u.explanation] = reasons.get(u.explanation, 0) + u.places
    for why, n in sorted(reasons.items(), key=lambda kv: -kv[1]):
        console.print(f"  {n:5d} place(s) empty: {why}")


async def cmd_match_show(args: argparse.Namespace, stubs: dict[str, Any], md: Any) -> None:
    reply = await stubs["matching"].GetMatchRun(
        matching_pb2.GetMatchRunRequest(id=args.run_id), metadata=md
    )
    show_run(reply.run)
    planned = await stubs["matching"].ListMatchAssignments(
        matching_pb2.ListMatchAssignmentsRequest(run_id=args.run_id, page_size=args.limit),
        metadata=md,
    )
    for a in planned.assignments:
        console.print(f"  task {a.task_id[:8]} ← member {a.member_id[:8]}: {a.explanation}")


async def cmd_member_record(args: argparse.Namespace, stubs: dict[str, Any], md: Any) -> None:
    member = (
        await stubs["registry"].GetMember(
            registry_pb2.GetMemberRequest(id=args.member_id), metadata=md
        )
    ).member
    record = (
        await stubs["tasks"].GetMemberRecord(
            tasks_pb2.GetMemberRecordRequest(member_id=args.member_id), metadata=md
        )
    ).record
    console.print(
        f"[bold]{member.name}[/] ({member.community_id or 'not reported in'}), "
        f"phone {member.phone}, {member.hours_per_month} h/month offered"
    )
    console.print(
        f"hours this month {record.hours_this_month:g}, this year "
        f"{record.hours_this_year:g}, in all {record.hours_total:g}; tasks done "
        f"{record.tasks_done}, no-shows {record.no_shows}, upcoming {record.upcoming}"
    )


def cmd_token(args: argparse.Namespace) -> None:
    role = Role(args.role)
    if role is Role.COMMUNITY_STAFF and not args.community:
        raise UsageError("--role community_staff needs --community")
    if role is Role.STREET_ADMIN and not args.street:
        raise UsageError("--role street_admin needs --street")
    print(
        issue_token(
            Settings(),
            Principal(args.subject, role, frozenset(args.community), frozenset(args.street)),
            ttl_s=int(args.hours * 3600),
        )
    )


def cmd_report(args: argparse.Namespace) -> None:
    token = token_from(args.token)
    if token is None:
        raise UsageError("report needs the caller's token: --token or LINLI_TOKEN")
    try:
        month_bounds(args.month)
    except ValueError as e:
        raise UsageError(f"--month: {e}") from e

    async def go() -> Path:
        async with Session(_addresses(args), token) as session:
            path, _ = await make_report(session, args.month, Path(args.out), args.community)
            return path

    try:
        path = asyncio.run(go())
    except ReportError as e:
        raise UsageError(f"--community: {e}") from e
    console.print(f"report: {path}")


# -- plumbing ------------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="linli", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--registry", help="registry address (host:port)")
    p.add_argument("--tasks", help="task service address")
    p.add_argument("--matching", help="matching service address")
    p.add_argument("--token", help="bearer token (default: LINLI_TOKEN, or a local admin's)")
    sub = p.add_subparsers(dest="group", required=True, metavar="COMMAND")

    district = sub.add_parser("district", help="the organisation and its members").add_subparsers(
        dest="command", required=True
    )
    load = district.add_parser("load", help="load a district file (and a members file)")
    load.add_argument("file", help="district.yaml (see docs/district-file.md)")
    load.add_argument("--members", help="members.csv to register through the bulk stream")
    load.set_defaults(run=cmd_district_load)

    wish = sub.add_parser("wish", help="small wishes").add_subparsers(dest="command", required=True)
    post = wish.add_parser("post", help="post a resident's wish for a community")
    for flag, kw in (
        ("--community", {"required": True}),
        ("--title", {"required": True}),
        ("--group", {"required": True, "help": "elderly, child, disabled, poor or other"}),
        ("--at", {"required": True, "help": "LAT,LNG where the work happens"}),
        ("--description", {"default": ""}),
        ("--address", {"default": ""}),
        ("--start", {"help": "a fixed start, local time (2026-12-05T09:00)"}),
        ("--end", {"help": "its end (default: start + hours)"}),
        ("--until", {"help": "any time before this local time"}),
        ("--request-id", {"default": ""}),
    ):
        post.add_argument(flag, **kw)  # type: ignore[arg-type]
    post.add_argument("--hours", type=float, required=True, help="effort per person")
    post.add_argument("--headcount", type=int, default=1)
    post.add_argument("--skill", action="append", default=[], help="code[:level], repeatable")
    post.set_defaults(run=cmd_wish_post)

    role = sub.add_parser("role", help="volunteer roles").add_subparsers(
        dest="command", required=True
    )
    create = role.add_parser("create", help="create a weekly or one-off volunteer role")
    for flag, kw in (
        ("--community", {"required": True}),
        ("--title", {"required": True}),
        ("--group", {"required": True}),
        ("--at", {"required": True}),
        ("--description", {"default": ""}),
        ("--unit", {"default": ""}),
        ("--days", {"help": "mon,tue,..."}),
        ("--from", {"dest": "start_time", "help": "HH:MM local"}),
        ("--to", {"dest": "end_time", "help": "HH:MM local"}),
        ("--first-date", {}),
        ("--last-date", {}),
        ("--once", {"help": "a one-off event's local start time"}),
        ("--request-id", {"default": ""}),
    ):
        create.add_argument(flag, **kw)  # type: ignore[arg-type]
    create.add_argument("--hours", type=float, required=True)
    create.add_argument("--headcount", type=int, required=True)
    create.add_argument("--skill", action="append", default=[])
    create.add_argument("--street-wide", action="store_true")
    create.set_defaults(run=cmd_role_create)

    tasks = sub.add_parser("tasks", help="tasks").add_subparsers(dest="command", required=True)
    listing = tasks.add_parser("list", help="list tasks")
    listing.add_argument("--community", default="")
    listing.add_argument("--status", action="append", default=[], choices=list(STATUSES))
    listing.add_argument("--limit", type=int, default=50)
    listing.set_defaults(run=cmd_tasks_list)

    match = sub.add_parser("match", help="matching runs").add_subparsers(
        dest="command", required=True
    )
    run = match.add_parser("run", help="plan and propose for a community, street or district")
    where = run.add_mutually_exclusive_group()
    where.add_argument("--community")
    where.add_argument("--street")
    run.add_argument("--dry-run", action="store_true", help="plan without proposing")
    run.add_argument("--time-limit", type=float, default=10.0, help="seconds for the exact model")
    run.set_defaults(run=cmd_match_run)
    show = match.add_parser("show", help="a recorded run and its assignments")
    show.add_argument("run_id")
    show.add_argument("--limit", type=int, default=20)
    show.set_defaults(run=cmd_match_show)

    member = sub.add_parser("member", help="members").add_subparsers(dest="command", required=True)
    record = member.add_parser("record", help="a member's service record")
    record.add_argument("member_id")
    record.set_defaults(run=cmd_member_record)

    report = sub.add_parser("report", help="the month's report as one HTML file")
    report.add_argument("--month", required=True, help="YYYY-MM, e.g. 2026-12")
    report.add_argument("--community", help="only this community")
    report.add_argument("--out", required=True, help="the HTML file to write")
    report.set_defaults(local=cmd_report)

    token = sub.add_parser("token", help="issue a local token")
    token.add_argument("--role", choices=[r.value for r in Role], default=Role.DISTRICT_ADMIN.value)
    token.add_argument("--subject", default="local-admin")
    token.add_argument("--community", action="append", default=[])
    token.add_argument("--street", action="append", default=[])
    token.add_argument("--hours", type=float, default=12.0)
    token.set_defaults(local=cmd_token)
    return p


def explain_error(e: aio.AioRpcError) -> str:
    fields = []
    for key, value in e.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                bad = error_details_pb2.BadRequest()
                if detail.Unpack(bad):
                    fields += [f"  {v.field}: {v.description}" for v in bad.field_violations]
    lines = [f"{e.code().name}: " + ("invalid fields:" if fields else str(e.details())), *fields]
    if e.code() == grpc.StatusCode.UNAVAILABLE:
        lines.append("  is the system running? `make up` starts it; `make status` shows it")
    return "\n".join(lines)


async def _run(
    args: argparse.Namespace,
    command: Callable[[argparse.Namespace, dict[str, Any], Any], Awaitable[None]],
) -> None:
    addr = _addresses(args)
    md = (("authorization", f"Bearer {_token(args)}"),)
    channels = {name: aio.insecure_channel(a) for name, a in addr.items()}
    stubs = {
        "registry": RegistryServiceStub(channels["registry"]),
        "tasks": TaskServiceStub(channels["tasks"]),
        "matching": MatchingServiceStub(channels["matching"]),
    }
    try:
        await command(args, stubs, md)
    finally:
        for channel in channels.values():
            await channel.close()


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if hasattr(args, "local"):
            args.local(args)
        else:
            asyncio.run(_run(args, args.run))
    except UsageError as e:
        err.print(f"[red]{e}[/]")
        return 2
    except aio.AioRpcError as e:
        err.print(f"[red]{explain_error(e)}[/]")
        return 1
    except (OSError, ValueError) as e:
        err.print(f"[red]{e}[/]")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
