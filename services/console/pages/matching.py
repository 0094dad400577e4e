"""Matching: a dry run for a community or a street, its plan on the map with each match's
explanation and each empty place's reason, then publishing it (the same run, proposing); past
runs with their figures."""

from __future__ import annotations

import uuid

from grpc import StatusCode, aio
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from linli.v1 import matching_pb2
from services.client import gather, members_of, pages, tasks_of
from services.console import maps
from services.console.pages.scope import communities, grids, scope
from services.console.pages.task import names_of
from services.console.web import NotThere, api, checked_form, errors_for, page, see_other


async def runs_page(request: Request) -> Response:
    a, s = await api(request)
    sc = await scope(request, a, s)
    runs = (
        await a(
            a.stubs.matching.ListMatchRuns,
            matching_pb2.ListMatchRunsRequest(community_id=sc.current.id, page_size=30),
        )
    ).runs
    street_runs = []
    if s.street_admin or s.district_wide:
        street_runs = list(
            (
                await a(
                    a.stubs.matching.ListMatchRuns,
                    matching_pb2.ListMatchRunsRequest(street_id=sc.current.street_id, page_size=30),
                )
            ).runs
        )
    return page(
        request,
        "matching.html",
        section="matching",
        sc=sc,
        runs=[*runs, *street_runs],
        may_run_street=s.street_admin or s.district_wide,
        errors={},
    )


def _run_request(form_scope: str, target: str, dry_run: bool) -> matching_pb2.RunMatchingRequest:
    if form_scope == "street":
        return matching_pb2.RunMatchingRequest(street_id=target, dry_run=dry_run)
    return matching_pb2.RunMatchingRequest(community_id=target, dry_run=dry_run)


async def start_run(request: Request) -> Response:
    form = await checked_form(request)
    a, s = await api(request)
    kind = str(form.get("scope", "community"))
    target = str(form.get("target", ""))
    try:
        run = (
            await a(
                a.stubs.matching.RunMatching,
                _run_request(kind, target, dry_run=form.get("publish") != "1"),
                timeout=a.run_timeout,
            )
        ).run
    except aio.AioRpcError as e:
        if e.code() not in (
            StatusCode.INVALID_ARGUMENT,
            StatusCode.ABORTED,
            StatusCode.RESOURCE_EXHAUSTED,
        ):
            raise
        sc = await scope(request, a, s)
        return page(
            request,
            "matching.html",
            409 if e.code() != StatusCode.INVALID_ARGUMENT else 400,
            section="matching",
            sc=sc,
            runs=[],
            may_run_street=s.street_admin or s.district_wide,
            errors=errors_for(e, "", ()),
        )
    return see_other(f"/matching/runs/{run.id}")


def run_id(request: Request) -> str:
    try:
        return str(uuid.UUID(str(request.path_params["run_id"])))
    except ValueError:
        raise NotThere from None


async def show_run(request: Request) -> Response:
    a, s = await api(request)
    rid = run_id(request)
    run = (await a(a.stubs.matching.GetMatchRun, matching_pb2.GetMatchRunRequest(id=rid))).run
    planned = await pages(
        a.stubs.matching.ListMatchAssignments,
        matching_pb2.ListMatchAssignmentsRequest(run_id=rid, page_size=1000),
        "assignments",
        a.md,
    )
    unfilled = await pages(
        a.stubs.matching.ListUnfilledPlaces,
        matching_pb2.ListUnfilledPlacesRequest(run_id=rid, page_size=1000),
        "places",
        a.md,
    )
    offered = await communities(a, s)
    if run.scope_kind == "community":
        shown = [c for c in offered if c.id == run.scope_id]
    elif run.scope_kind == "street":
        shown = [c for c in offered if c.street_id == run.scope_id]
    else:
        shown = offered
    ids = [c.id for c in shown]
    tasks = {
        t.id: t
        for group in await gather(ids, lambda c: tasks_of(a.stubs, a.md, c), 4)
        for t in group
    }
    names = {
        m.id: m.name
        for group in await gather(ids, lambda c: members_of(a.stubs, a.md, c), 4)
        for m in group
    }
    missing = {p.member_id for p in planned} - names.keys()
    names |= await names_of(a, missing) if missing else {}
    filled = {p.task_id for p in planned}
    empty = {u.task_id for u in unfilled}
    spots = [
        maps.Place(
            t.id,
            t.title,
            t.location.latitude,
            t.location.longitude,
            "partly"
            if t.id in filled and t.id in empty
            else "filled"
            if t.id in filled
            else "unfilled",
        )
        for t in tasks.values()
        if t.id in filled | empty and t.HasField("location")
    ]
    all_grids = [g for group in await gather(ids, lambda c: grids(a, c), 4) for g in group]
    scope_name = shown[0].name if run.scope_kind == "community" and shown else ""
    the_map = maps.draw(shown, all_grids, spots, label=scope_name or run.scope_id or "district")
    return page(
        request,
        "run.html",
        section="matching",
        run=run,
        scope_name=scope_name or run.scope_id,
        planned=planned,
        unfilled=unfilled,
        tasks=tasks,
        names=names,
        the_map=the_map,
        publishable=run.dry_run and run.state == matching_pb2.MATCH_RUN_STATE_SUCCEEDED,
    )


async def publish(request: Request) -> Response:
    """Publishing a dry run runs the same scope again, proposing: the plan is made afresh from
    what the service knows now (a member may have claimed a place since the dry run)."""
    await checked_form(request)
    a, _ = await api(request)
    rid = run_id(request)
    dry = (await a(a.stubs.matching.GetMatchRun, matching_pb2.GetMatchRunRequest(id=rid))).run
    kind = "street" if dry.scope_kind == "street" else "community"
    if dry.scope_kind == "district":
        raise NotThere  # the console runs communities and streets; the district runs on schedule
    run = (
        await a(
            a.stubs.matching.RunMatching,
            _run_request(kind, dry.scope_id, dry_run=False),
            timeout=a.run_timeout,
        )
    ).run
    return see_other(f"/matching/runs/{run.id}")


ROUTES = [
    Route("/matching", runs_page, methods=["GET"]),
    Route("/matching/runs", start_run, methods=["POST"]),
    Route("/matching/runs/{run_id}", show_run, methods=["GET"]),
    Route("/matching/runs/{run_id}/publish", publish, methods=["POST"]),
]
