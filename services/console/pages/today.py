"""Today: the community's open wishes and roles, places filled and empty (with matching's reason
for each empty one), proposals waiting for an answer, and tasks done but not yet confirmed."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from linli.v1 import matching_pb2, tasks_pb2
from services.client import assignments_of, gather, members_of, pages, tasks_of
from services.common.protoconv import time_from_proto
from services.console import maps
from services.console.pages.scope import grids, scope
from services.console.web import api, page

OPEN = [tasks_pb2.TASK_STATUS_OPEN, tasks_pb2.TASK_STATUS_FILLED]


def place_css(task: tasks_pb2.Task) -> str:
    if task.status == tasks_pb2.TASK_STATUS_COMPLETED:
        return "done"
    if task.places_taken >= task.headcount:
        return "filled"
    return "partly" if task.places_taken else "unfilled"


def places(tasks: list[tasks_pb2.Task]) -> list[maps.Place]:
    return [
        maps.Place(
            t.id,
            t.title,
            t.location.latitude,
            t.location.longitude,
            place_css(t),
            t.location_approximate,
        )
        for t in tasks
        if t.HasField("location")
    ]


async def today(request: Request) -> Response:
    a, s = await api(request)
    sc = await scope(request, a, s)
    cid = sc.current.id
    tasks = await tasks_of(a.stubs, a.md, cid, OPEN)
    closed = await tasks_of(a.stubs, a.md, cid, [tasks_pb2.TASK_STATUS_CLOSED])
    now = datetime.now(UTC)
    to_confirm = [t for t in closed if time_from_proto(t.window.end) <= now]
    roles = await pages(
        a.stubs.tasks.ListRoles,
        tasks_pb2.ListRolesRequest(community_id=cid, page_size=1000),
        "roles",
        a.md,
    )
    proposed = await gather(
        [t.id for t in tasks],
        lambda t: assignments_of(a.stubs, a.md, t, [tasks_pb2.ASSIGNMENT_STATE_PROPOSED]),
        8,
    )
    waiting = [(t, p) for t, ps in zip(tasks, proposed, strict=True) for p in ps]
    runs = (
        await a(
            a.stubs.matching.ListMatchRuns,
            matching_pb2.ListMatchRunsRequest(community_id=cid, page_size=20),
        )
    ).runs
    run = next((r for r in runs if r.state == matching_pb2.MATCH_RUN_STATE_SUCCEEDED), None)
    unfilled: list[tuple[tasks_pb2.Task, matching_pb2.UnfilledPlace]] = []
    if run is not None:
        by_id = {t.id: t for t in tasks}
        found = await pages(
            a.stubs.matching.ListUnfilledPlaces,
            matching_pb2.ListUnfilledPlacesRequest(run_id=run.id, page_size=1000),
            "places",
            a.md,
        )
        unfilled = [(by_id[u.task_id], u) for u in found if u.task_id in by_id]
    names = {m.id: m.name for m in await members_of(a.stubs, a.md, cid)}
    the_map = maps.draw([sc.current], await grids(a, cid), places(tasks), label=sc.current.name)
    return page(
        request,
        "today.html",
        section="today",
        sc=sc,
        tasks=tasks,
        wishes=[t for t in tasks if t.kind == tasks_pb2.TASK_KIND_WISH],
        occurrences=[t for t in tasks if t.kind == tasks_pb2.TASK_KIND_ROLE_OCCURRENCE],
        roles=[r for r in roles if not r.ended],
        waiting=waiting,
        to_confirm=to_confirm,
        run=run,
        unfilled=unfilled,
        names=names,
        the_map=the_map,
        empty=sum(max(t.headcount - t.places_taken, 0) for t in tasks),
        taken=sum(t.places_taken for t in tasks),
        role_created=bool(request.query_params.get("role_created")),
    )


ROUTES = [Route("/", today, methods=["GET"])]
