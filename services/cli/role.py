"""`linli role`: volunteer roles, weekly or once."""

from __future__ import annotations

from datetime import timedelta

import click
from google.protobuf import timestamp_pb2

from linli.v1 import common_pb2, tasks_pb2
from services.cli.base import (
    GROUPS,
    Cli,
    ClockTime,
    Day,
    Days,
    Skill,
    When,
    console,
    pass_cli,
    task_options,
)
from services.cli.base import request_id as new_request_id
from services.client import Session
from services.common.protoconv import time_from_proto, ts


@click.group(help="Volunteer roles.")
def role() -> None:
    pass


@role.command(help="Create a weekly or one-off volunteer role.")
@task_options
@click.option("--headcount", required=True, type=click.IntRange(1, 100))
@click.option("--skill", "skills", multiple=True, type=Skill(), help="code[:level], repeatable")
@click.option("--description", default="")
@click.option("--unit", default="", help="the unit (school, company) that runs it")
@click.option("--street-wide", is_flag=True, help="members of the whole street may serve")
@click.option("--days", type=Days(), help="weekly: the days, e.g. mon,wed,fri")
@click.option("--from", "start_minute", type=ClockTime(), help="weekly: start, HH:MM local")
@click.option("--to", "end_minute", type=ClockTime(), help="weekly: end, HH:MM local")
@click.option("--first-date", type=Day(), help="weekly: the first day it runs")
@click.option("--last-date", type=Day(), help="weekly: the last day (default: open-ended)")
@click.option("--once", type=When(), help="instead of weekly: one start, local time")
@click.option("--request-id", default="", help="repeat a create safely with the same id")
@pass_cli
def create(
    cli: Cli,
    community: str,
    title: str,
    group: str,
    at: common_pb2.LatLng,
    hours: float,
    headcount: int,
    skills: tuple[tasks_pb2.RequiredSkill, ...],
    description: str,
    unit: str,
    street_wide: bool,
    days: list[int] | None,
    start_minute: int | None,
    end_minute: int | None,
    first_date: common_pb2.Date | None,
    last_date: common_pb2.Date | None,
    once: timestamp_pb2.Timestamp | None,
    request_id: str,
) -> None:
    role = tasks_pb2.VolunteerRole(
        community_id=community,
        unit_id=unit,
        title=title,
        description=description,
        beneficiary_group=GROUPS[group.lower()],
        location=at,
        skills=list(skills),
        headcount=headcount,
        effort_hours=hours,
        street_wide=street_wide,
    )
    weekly = {
        "--days": days,
        "--from": start_minute,
        "--to": end_minute,
        "--first-date": first_date,
    }
    if once is not None:
        given = [flag for flag, v in weekly.items() if v is not None]
        if given or last_date is not None:
            raise click.UsageError(
                f"--once is one time; {', '.join(given or ['--last-date'])} belong to a weekly role"
            )
        end = ts(time_from_proto(once) + timedelta(hours=hours))
        role.once.window.CopyFrom(tasks_pb2.TimeWindow(start=once, end=end))
    else:
        missing = [flag for flag, v in weekly.items() if v is None]
        if missing:
            raise click.UsageError(
                f"a weekly role needs {', '.join(missing)} (or use --once TIME for one time)"
            )
        assert days is not None and start_minute is not None and end_minute is not None
        if end_minute <= start_minute:
            raise click.BadParameter("must be after --from", param_hint="--to")
        role.weekly.CopyFrom(
            tasks_pb2.WeeklySchedule(
                days=days,  # type: ignore[arg-type]
                start_minute=start_minute,
                end_minute=end_minute,
                first_date=first_date,
            )
        )
        if last_date is not None:
            role.weekly.last_date.CopyFrom(last_date)
    req = tasks_pb2.CreateRoleRequest(request_id=new_request_id(request_id), role=role)

    async def go(s: Session) -> tasks_pb2.CreateRoleResponse:
        return await s.tasks.CreateRole(req, metadata=s.md)  # type: ignore[no-any-return]

    reply = cli.call(go)
    cli.emit(
        {"role": reply.role, "tasks_generated": reply.tasks_generated},
        lambda: console.print(
            f"created role [bold]{reply.role.id}[/]: {reply.tasks_generated} task(s) "
            "generated for the coming weeks"
        ),
    )
