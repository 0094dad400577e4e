"""Reports: the month of a community, a street or the district as `linli report` writes it (the
same data and render modules), and the month's honour list (光荣榜)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from linli.v1 import tasks_pb2
from services import report
from services.common.values import LOCAL_TZ
from services.console.pages.scope import communities
from services.console.web import NotThere, api, page

# The report is a document of its own: its styles are inline, and it runs no script at all.
REPORT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'"
)
HONOUR_SIZE = 20


def _month(request: Request) -> tuple[str, datetime, datetime]:
    month = request.query_params.get("month") or datetime.now(LOCAL_TZ).strftime("%Y-%m")
    try:
        since, until = report.month_bounds(month)
    except ValueError:
        raise NotThere from None
    return month, since, until


async def reports_page(request: Request) -> Response:
    a, s = await api(request)
    offered = await communities(a, s)
    streets = sorted({c.street_id for c in offered}) if s.street_admin or s.district_wide else []
    return page(
        request,
        "reports.html",
        section="reports",
        communities=offered,
        streets=streets,
        month=datetime.now(LOCAL_TZ).strftime("%Y-%m"),
    )


async def _collect(request: Request) -> tuple[report.Data, str]:
    a, s = await api(request)
    month, since, until = _month(request)
    kind, _, target = (request.query_params.get("scope") or "").partition(":")
    community = target if kind == "community" and target else None
    street = target if kind == "street" and target else None
    if community is None and street is None and not s.district_wide:
        # Only the district's administrators read the whole district: the others a part of it.
        if s.street_admin and s.streets:
            street = s.streets[0]
        elif s.communities:
            community = s.communities[0]
        else:
            raise NotThere
    try:
        data = await report.collect(
            a.stubs, a.md, since=since, until=until, community=community, street=street
        )
    except report.ReportError:
        raise NotThere from None
    names = ", ".join(c.name for c in data.communities) if community or street else ""
    data.scope = f"{month} · {names}" if names else month
    return data, month


async def month_report(request: Request) -> Response:
    data, _ = await _collect(request)
    response = HTMLResponse(report.render(data))
    response.headers["Content-Security-Policy"] = REPORT_CSP
    return response


async def honour_list(request: Request) -> Response:
    data, month = await _collect(request)
    hours: dict[str, float] = defaultdict(float)
    tasks: dict[str, int] = defaultdict(int)
    for held in data.assignments.values():
        for h in held:
            if h.state == tasks_pb2.ASSIGNMENT_STATE_COMPLETED:
                hours[h.member_id] += h.hours
                tasks[h.member_id] += 1
    who = {m.id: m for ms in data.members.values() for m in ms}
    places = {c.id: c.name for c in data.communities}
    ranked = sorted(
        (m for m in hours if m in who), key=lambda m: (-hours[m], -tasks[m], who[m].name)
    )[:HONOUR_SIZE]
    rows = [(who[m].name, places.get(who[m].community_id, ""), hours[m], tasks[m]) for m in ranked]
    return page(request, "honour.html", section="reports", rows=rows, month=month, scope=data.scope)


ROUTES = [
    Route("/reports", reports_page, methods=["GET"]),
    Route("/reports/month", month_report, methods=["GET"]),
    Route("/reports/honour", honour_list, methods=["GET"]),
]
