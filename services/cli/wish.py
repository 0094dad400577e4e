"""`linli wish`: small wishes residents ask for."""

from __future__ import annotations

from datetime import timedelta

import click
from google.protobuf import timestamp_pb2

from linli.v1 import common_pb2, tasks_pb2
from services.cli.base import (
    GROUPS,
    Cli,
    Skill,
    When,
    console,
    pass_cli,
    task_options,
)
from services.cli.base import request_id as new_request_id
from services.client import Session
from services.common.protoconv import time_from_proto, ts


@click.group(help="Small wishes.")
def wish() -> None:
    pass


@wish.command(help="Post a resident's wish for a community.")
@task_options
@click.option("--headcount", default=1, show_default=True, type=click.IntRange(1, 100))
@click.option("--skill", "skills", multiple=True, type=Skill(), help="code[:level], repeatable")
@click.option("--description", default="")
@click.option("--address", default="", help="the resident's address (staff see it)")
@click.option("--start", type=When(), help="a fixed start, local time (2026-12-05T09:00)")
@click.option("--end", type=When(), help="its end (default: start + hours, at least an hour)")
@click.option("--until", "until", type=When(), help="any time before this local time")
@click.option("--request-id", default="", help="repeat a post safely with the same id")
@pass_cli
def post(
    cli: Cli,
    community: str,
    title: str,
    group: str,
    at: common_pb2.LatLng,
    hours: float,
    headcount: int,
    skills: tuple[tasks_pb2.RequiredSkill, ...],
    description: str,
    address: str,
    start: timestamp_pb2.Timestamp | None,
    end: timestamp_pb2.Timestamp | None,
    until: timestamp_pb2.Timestamp | None,
    request_id: str,
) -> None:
    if (start is None) == (until is None):
        raise click.UsageError("give --start (a fixed time) or --until (any time before)")
    if end is not None and start is None:
        raise click.BadOptionUsage("end", "--end goes with --start")
    if start is not None:
        end = end or ts(time_from_proto(start) + timedelta(hours=max(hours, 1.0)))
        window = tasks_pb2.TimeWindow(start=start, end=end)
    else:
        window = tasks_pb2.TimeWindow(end=until, flexible=True)
    req = tasks_pb2.PostWishRequest(
        request_id=new_request_id(request_id),
        wish=tasks_pb2.Wish(
            community_id=community,
            title=title,
            description=description,
            beneficiary_group=GROUPS[group.lower()],
            location=at,
            address=address,
            skills=list(skills),
            headcount=headcount,
            window=window,
            effort_hours=hours,
        ),
    )

    async def go(s: Session) -> tasks_pb2.PostWishResponse:
        return await s.tasks.PostWish(req, metadata=s.md)  # type: ignore[no-any-return]

    reply = cli.call(go)
    cli.emit(
        {"wish": reply.wish, "task": reply.task},
        lambda: console.print(
            f"posted wish {reply.wish.id}: task [bold]{reply.task.id}[/] "
            f"({reply.task.headcount} place(s))"
        ),
    )
