"""What every `linli` command shares: the caller's context (where the services are, the token,
the output format), the typed options whose errors name the flag, and printing text or JSON."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import click
import grpc
from google.protobuf import json_format, timestamp_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpc import aio
from rich.console import Console

from linli.v1 import common_pb2, tasks_pb2
from services.cli import kept
from services.client import Session, addresses, token_from
from services.common.auth import Principal, Role, issue_token
from services.common.protoconv import BENEFICIARY_TO_PROTO, time_from_proto, ts
from services.common.settings import Settings
from services.common.tracing import Tracing
from services.common.values import LOCAL_TZ

T = TypeVar("T")
LOCAL = LOCAL_TZ
GROUPS = {b.value: group for b, group in BENEFICIARY_TO_PROTO.items()}
DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
STATUSES = {
    name: getattr(tasks_pb2, f"TASK_STATUS_{name.upper()}")
    for name in ("open", "filled", "closed", "completed", "cancelled", "expired")
}
console = Console()
err = Console(stderr=True)


@dataclass
class Cli:
    """The root options, handed to every command."""

    given: dict[str, str | None] = field(default_factory=dict)
    token: str | None = None
    output: str = "text"

    @property
    def json(self) -> bool:
        return self.output == "json"

    def bearer(self, *, local_admin: bool = True) -> str:
        """The caller's token. Without one, a local district administrator's is signed with the
        local key (which only a local system accepts), unless the command needs a real one."""
        token = token_from(self.token)
        if token is None:
            if not local_admin:
                raise click.UsageError(
                    "this command needs the caller's token: --token or LINLI_TOKEN"
                )
            token = issue_token(Settings(), Principal("linli-cli", Role.DISTRICT_ADMIN))
        return token

    def call(self, fn: Callable[[Session], Awaitable[T]], *, local_admin: bool = True) -> T:
        where = addresses(self.given)

        async def go() -> T:
            # A token given wins; else a service account's sign-in (LINLI_CLIENT_ID and
            # LINLI_CLIENT_SECRET); else the kept sign-in of `linli login`; else the local one.
            token = token_from(self.token) or await kept.service_token(where)
            token = token or await kept.current_token(where)
            token = token or self.bearer(local_admin=local_admin)
            # With LINLI_OTLP_ENDPOINT set, the command is one trace: a span named after it, with
            # each of its calls a client span under it, followed into the services.
            tracing = Tracing.from_settings(
                Settings(service_name="linli-cli"), instrument_database=False
            )
            command = click.get_current_context(silent=True)
            name = command.command_path if command is not None else "linli"
            try:
                # Channels belong to the loop they are made in: made here, inside asyncio.run.
                async with Session(where, token, tracer_provider=tracing.provider) as session:
                    with tracing.tracer.start_as_current_span(name):
                        return await fn(session)
            finally:
                await tracing.shutdown(timeout_s=2.0)

        return asyncio.run(go())

    def emit(self, data: Any, text: Callable[[], None]) -> None:
        """JSON of `data` with --output json, else the human form."""
        if self.json:
            click.echo(json.dumps(plain(data), ensure_ascii=False, indent=2))
        else:
            text()


pass_cli = click.make_pass_decorator(Cli, ensure=True)


def plain(value: Any) -> Any:
    """Messages as their JSON mapping (proto field names), recursively through lists and dicts."""
    if isinstance(value, Message):
        return json_format.MessageToDict(value, preserving_proto_field_name=True)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


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


def local_time(ts: timestamp_pb2.Timestamp, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return time_from_proto(ts).astimezone(LOCAL).strftime(fmt)


# -- typed options: click names the flag in every error -------------------------------------------


class When(click.ParamType):
    """A time, in the district's time (Asia/Shanghai) unless it names its own offset."""

    name = "TIME"

    def convert(self, value: Any, param: Any, ctx: Any) -> timestamp_pb2.Timestamp:
        if isinstance(value, timestamp_pb2.Timestamp):
            return value
        try:
            when = datetime.fromisoformat(str(value).strip())
        except ValueError:
            self.fail(f"not a time: {value!r} (use e.g. 2026-12-05T09:00)", param, ctx)
        if when.tzinfo is None:
            when = when.replace(tzinfo=LOCAL)
        out = ts(when)
        assert out is not None
        return out


class Day(click.ParamType):
    name = "DATE"

    def convert(self, value: Any, param: Any, ctx: Any) -> common_pb2.Date:
        if isinstance(value, common_pb2.Date):
            return value
        try:
            day = date.fromisoformat(str(value).strip())
        except ValueError:
            self.fail(f"not a date: {value!r} (use e.g. 2026-12-01)", param, ctx)
        return common_pb2.Date(year=day.year, month=day.month, day=day.day)


class Place(click.ParamType):
    name = "LAT,LNG"

    def convert(self, value: Any, param: Any, ctx: Any) -> common_pb2.LatLng:
        if isinstance(value, common_pb2.LatLng):
            return value
        parts = str(value).split(",")
        try:
            lat, lng = (float(p) for p in parts)
        except ValueError:
            self.fail(f"takes LAT,LNG in degrees, e.g. 36.98,117.17 (got {value!r})", param, ctx)
        if not (-90 <= lat <= 90 and -180 <= lng <= 180):
            self.fail(f"not a place on Earth: {value!r}", param, ctx)
        return common_pb2.LatLng(latitude=lat, longitude=lng)


class Days(click.ParamType):
    """Days of the week: `mon,fri`, `mon, fri`, `monday`, `Mon Tue` (as days 1-7, Monday 1)."""

    name = "DAYS"

    def convert(self, value: Any, param: Any, ctx: Any) -> list[int]:
        if isinstance(value, list):
            return value
        words = [w for w in re.split(r"[\s,]+", str(value).strip().lower()) if w]
        if not words:
            self.fail("name at least one day, e.g. mon,wed,fri", param, ctx)
        out: list[int] = []
        for word in words:
            # Three letters at least: "tu" could be a slip for "th".
            found = [
                i + 1
                for i, name in enumerate(DAY_NAMES)
                if len(word) >= 3 and name.startswith(word)
            ]
            if len(found) != 1:
                self.fail(
                    f"not a day of the week: {word!r} (use mon,tue,wed,thu,fri,sat,sun)", param, ctx
                )
            if found[0] not in out:
                out.append(found[0])
        return sorted(out)


class ClockTime(click.ParamType):
    """A time of day, HH:MM (24-hour), as minutes since midnight."""

    name = "HH:MM"

    def convert(self, value: Any, param: Any, ctx: Any) -> int:
        if isinstance(value, int):
            return value
        match = re.fullmatch(r"(\d{1,2})(?::(\d{2}))?", str(value).strip())
        minutes = None
        if match:
            hours, mins = int(match[1]), int(match[2] or 0)
            if (hours < 24 and mins < 60) or (hours, mins) == (24, 0):
                minutes = hours * 60 + mins
        if minutes is None:
            self.fail(f"not a time of day: {value!r} (use HH:MM, e.g. 16:30)", param, ctx)
        return minutes


class Skill(click.ParamType):
    """A required skill, code[:level] (level 1 to 3, default 1)."""

    name = "CODE[:LEVEL]"

    def convert(self, value: Any, param: Any, ctx: Any) -> tasks_pb2.RequiredSkill:
        if isinstance(value, tasks_pb2.RequiredSkill):
            return value
        code, _, level = str(value).strip().partition(":")
        if not re.fullmatch(r"[a-z][a-z0-9_]*", code) or not re.fullmatch(r"[1-3]?", level):
            self.fail(
                f"takes a skill code and a level 1-3, e.g. tutoring:2 (got {value!r})", param, ctx
            )
        return tasks_pb2.RequiredSkill(skill=code, min_level=int(level or 1))


class Month(click.ParamType):
    name = "YYYY-MM"

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        text = str(value).strip()
        if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", text):
            self.fail(f"not a month: {value!r} (use e.g. 2026-12)", param, ctx)
        return text


GROUP = click.Choice(list(GROUPS), case_sensitive=False)
POSITIVE_HOURS = click.FloatRange(min=0, min_open=True, max=24)


def request_id(given: str) -> str:
    return given or f"cli-{datetime.now(UTC).timestamp():.6f}"


def fail(message: str) -> None:
    err.print(f"[red]{message}[/]")
    sys.exit(1)


def task_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options a wish and a role share, in the order `--help` lists them."""
    for option in reversed(
        (
            click.option("--community", required=True, help="the community's id"),
            click.option("--title", required=True),
            click.option("--group", "group", required=True, type=GROUP, help="who is helped"),
            click.option(
                "--at", "at", required=True, type=Place(), help="LAT,LNG where the work happens"
            ),
            click.option("--hours", required=True, type=POSITIVE_HOURS, help="effort per person"),
        )
    ):
        command = option(command)
    return command
