"""Post a wish and create a role: the place picked on the map (or typed), and the services' field
errors shown next to their fields. The forms check nothing themselves: the task service does."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from typing import Any

from grpc import StatusCode, aio
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from linli.v1 import common_pb2, registry_pb2, tasks_pb2
from services.client import pages
from services.common.protoconv import date_to_proto, ts
from services.common.values import LOCAL_TZ
from services.console import maps
from services.console.formats import GROUP_WORDS
from services.console.pages.scope import Scope, grids, scope
from services.console.web import Api, api, checked_form, errors_for, page, see_other

WISH_FIELDS = (
    "community_id",
    "title",
    "description",
    "beneficiary_group",
    "location",
    "address",
    "skills",
    "headcount",
    "window",
    "effort_hours",
)
ROLE_FIELDS = (*WISH_FIELDS, "unit_id", "schedule", "days", "start", "end", "first_date")
ROLE_ALIASES = {
    "weekly.days": "days",
    "weekly.start_minute": "start",
    "weekly.end_minute": "end",
    "weekly.first_date": "first_date",
    "weekly.last_date": "first_date",
    "weekly": "schedule",
    "once.window": "window",
    "once": "window",
}
DAYS = tuple(range(1, 8))


def _float(value: object) -> float:
    try:
        return float(str(value))
    except ValueError:
        return 0.0  # the service names the field


def _int(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0


def _date(value: object) -> date | None:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None


def _time(value: object) -> time | None:
    try:
        return time.fromisoformat(str(value))
    except ValueError:
        return None


def window(form: FormData, day_field: str = "date") -> tasks_pb2.TimeWindow | None:
    """The window the form gives, in the district's time; unset when the date or times are not
    given (the service then says it is required)."""
    day, start, end = _date(form.get(day_field)), _time(form.get("start")), _time(form.get("end"))
    if day is None or end is None:
        return None
    flexible = form.get("flexible") == "on"
    began = datetime.combine(day, start or time(0), LOCAL_TZ)
    if flexible:
        began = datetime.now(LOCAL_TZ)  # "any time before": from now on
    ended = datetime.combine(day, end, LOCAL_TZ)
    return tasks_pb2.TimeWindow(start=ts(began), end=ts(ended), flexible=flexible)


def location(form: FormData) -> common_pb2.LatLng | None:
    lat, lng = str(form.get("latitude", "")).strip(), str(form.get("longitude", "")).strip()
    if not lat or not lng:
        return None
    return common_pb2.LatLng(latitude=_float(lat), longitude=_float(lng))


def skills(form: FormData) -> list[tasks_pb2.RequiredSkill]:
    return [tasks_pb2.RequiredSkill(skill=str(k), min_level=1) for k in form.getlist("skills")]


async def _context(request: Request, a: Api, sc: Scope) -> dict[str, Any]:
    catalogue = (await a(a.stubs.registry.ListSkills, registry_pb2.ListSkillsRequest())).skills
    units = await pages(
        a.stubs.registry.ListUnits,
        registry_pb2.ListUnitsRequest(community_id=sc.current.id, page_size=1000),
        "units",
        a.md,
    )
    the_map = maps.draw(
        [sc.current], await grids(a, sc.current.id), [], label=sc.current.name, pick=True
    )
    return {
        "sc": sc,
        "catalogue": catalogue,
        "units": units,
        "groups": GROUP_WORDS,
        "days": DAYS,
        "the_map": the_map,
    }


def _fresh(sc: Scope) -> dict[str, Any]:
    tomorrow = (datetime.now(LOCAL_TZ) + timedelta(days=1)).date().isoformat()
    return {
        "request_id": uuid.uuid4().hex,
        "community_id": sc.current.id,
        "headcount": "1",
        "effort_hours": "1",
        "date": tomorrow,
        "first_date": tomorrow,
        "start": "09:00",
        "end": "11:00",
        "schedule": "weekly",
    }


def _values(form: FormData) -> dict[str, Any]:
    values: dict[str, object] = {k: str(v) for k, v in form.items() if k != "csrf"}
    values["skills"] = [str(x) for x in form.getlist("skills")]
    values["days"] = [str(x) for x in form.getlist("days")]
    return values


async def wish_form(request: Request) -> Response:
    a, s = await api(request)
    sc = await scope(request, a, s)
    ctx = await _context(request, a, sc)
    return page(request, "wish.html", section="post", v=_fresh(sc), errors={}, **ctx)


async def post_wish(request: Request) -> Response:
    form = await checked_form(request)
    a, s = await api(request)
    wish = tasks_pb2.Wish(
        community_id=str(form.get("community_id", "")),
        title=str(form.get("title", "")),
        description=str(form.get("description", "")),
        beneficiary_group=_int(form.get("beneficiary_group", 0)),  # type: ignore[arg-type]
        location=location(form),
        address=str(form.get("address", "")),
        skills=skills(form),
        headcount=_int(form.get("headcount", "")),
        window=window(form),
        effort_hours=_float(form.get("effort_hours", "")),
    )
    try:
        answer = await a(
            a.stubs.tasks.PostWish,
            tasks_pb2.PostWishRequest(request_id=str(form.get("request_id", "")), wish=wish),
        )
    except aio.AioRpcError as e:
        if e.code() not in (StatusCode.INVALID_ARGUMENT, StatusCode.FAILED_PRECONDITION):
            raise
        sc = await scope(_asking(request, wish.community_id), a, s)
        ctx = await _context(request, a, sc)
        errors = errors_for(e, "wish.", WISH_FIELDS)
        return page(
            request, "wish.html", 400, section="post", v=_values(form), errors=errors, **ctx
        )
    return see_other(f"/tasks/{answer.task.id}?posted=1")


def _asking(request: Request, community: str) -> Request:
    """The request as if it had asked for the community the form names."""
    scope_ = dict(request.scope)
    scope_["query_string"] = f"community={community}".encode()
    return Request(scope_, request.receive)


async def role_form(request: Request) -> Response:
    a, s = await api(request)
    sc = await scope(request, a, s)
    ctx = await _context(request, a, sc)
    return page(request, "role.html", section="role", v=_fresh(sc), errors={}, **ctx)


def schedule(form: FormData, role: tasks_pb2.VolunteerRole) -> None:
    if form.get("schedule") == "once":
        w = window(form, "first_date")
        role.once.CopyFrom(tasks_pb2.OneOffSchedule(window=w))
        return
    start, end = _time(form.get("start")), _time(form.get("end"))
    weekly = tasks_pb2.WeeklySchedule(
        days=[_int(d) for d in form.getlist("days")],  # type: ignore[misc]
        start_minute=start.hour * 60 + start.minute if start else -1,
        end_minute=(end.hour * 60 + end.minute or 1440) if end else -1,
        first_date=date_to_proto(_date(form.get("first_date"))),
        last_date=date_to_proto(_date(form.get("last_date"))),
    )
    role.weekly.CopyFrom(weekly)


async def create_role(request: Request) -> Response:
    form = await checked_form(request)
    a, s = await api(request)
    role = tasks_pb2.VolunteerRole(
        community_id=str(form.get("community_id", "")),
        unit_id=str(form.get("unit_id", "")),
        title=str(form.get("title", "")),
        description=str(form.get("description", "")),
        beneficiary_group=_int(form.get("beneficiary_group", 0)),  # type: ignore[arg-type]
        location=location(form),
        skills=skills(form),
        headcount=_int(form.get("headcount", "")),
        effort_hours=_float(form.get("effort_hours", "")),
        street_wide=form.get("street_wide") == "on",
    )
    schedule(form, role)
    try:
        answer = await a(
            a.stubs.tasks.CreateRole,
            tasks_pb2.CreateRoleRequest(request_id=str(form.get("request_id", "")), role=role),
        )
    except aio.AioRpcError as e:
        if e.code() not in (StatusCode.INVALID_ARGUMENT, StatusCode.FAILED_PRECONDITION):
            raise
        sc = await scope(_asking(request, role.community_id), a, s)
        ctx = await _context(request, a, sc)
        errors = errors_for(e, "role.", ROLE_FIELDS, ROLE_ALIASES)
        return page(
            request, "role.html", 400, section="role", v=_values(form), errors=errors, **ctx
        )
    return see_other(f"/?community={answer.role.community_id}&role_created={answer.role.id}")


ROUTES = [
    Route("/wishes/new", wish_form, methods=["GET"]),
    Route("/wishes", post_wish, methods=["POST"]),
    Route("/roles/new", role_form, methods=["GET"]),
    Route("/roles", create_role, methods=["POST"]),
]
