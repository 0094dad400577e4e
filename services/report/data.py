"""What the month's report shows, read through the services' APIs with the caller's token: the
organisation, its members, the tasks of the period with their assignments, and a matching run."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from linli.v1 import affairs_pb2, attendance_pb2, matching_pb2, points_pb2, registry_pb2, tasks_pb2
from services.client import Metadata, Stubs, assignments_of, gather, members_of, pages, tasks_of
from services.common.protoconv import time_from_proto
from services.common.values import LOCAL_TZ
from services.report import attendance, ledger
from services.report import points as points_section

LOCAL = LOCAL_TZ


class ReportError(Exception):
    """The report cannot be made as asked (a community the caller does not see, say)."""


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """`2026-12` → the month's first instant and the next month's, in the district's time."""
    try:
        first = date.fromisoformat(f"{month}-01")
    except ValueError as e:
        raise ValueError(f"not a month: {month!r} (use e.g. 2026-12)") from e
    if len(month) != 7:
        raise ValueError(f"not a month: {month!r} (use e.g. 2026-12)")
    nxt = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    start = datetime(first.year, first.month, 1, tzinfo=LOCAL)
    return start, datetime(nxt.year, nxt.month, 1, tzinfo=LOCAL)


@dataclass
class Data:
    communities: list[registry_pb2.Community] = field(default_factory=list)
    streets: dict[str, str] = field(default_factory=dict)
    grids: list[registry_pb2.Grid] = field(default_factory=list)
    members: dict[str, list[registry_pb2.Member]] = field(default_factory=dict)
    tasks: list[tasks_pb2.Task] = field(default_factory=list)
    assignments: dict[str, list[tasks_pb2.Assignment]] = field(default_factory=dict)  # by task
    run: matching_pb2.MatchRun | None = None
    planned: list[matching_pb2.MatchAssignment] = field(default_factory=list)
    unfilled: list[matching_pb2.UnfilledPlace] = field(default_factory=list)
    hours_records: list[attendance_pb2.HoursRecord] = field(default_factory=list)
    scope: str = ""  # what the report covers, in words: "2026-12 · chengli"
    points: list[points_pb2.GetCommunityPointsResponse] = field(default_factory=list)
    # The affairs ledger's figures (report/ledger.py); None without the affairs service.
    ledger: affairs_pb2.GetLedgerFiguresResponse | None = None


async def collect(
    stubs: Stubs,
    md: Metadata,
    run_id: str | None = None,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    community: str | None = None,
    street: str | None = None,
) -> Data:
    """Everything the report shows, through the APIs as the caller (`md`) sees them. Tasks that
    start before `since` or from `until` on are left out (roles keep generating the weeks
    ahead). Without `run_id`, the latest matching run that proposed (not a dry run) and finished
    in the period is shown. With `community`, only that community; with `street`, only the
    communities of that street."""
    d = Data()
    d.streets = {
        s.id: s.name
        for s in await pages(
            stubs.registry.ListStreets,
            registry_pb2.ListStreetsRequest(page_size=1000),
            "streets",
            md,
        )
    }
    d.communities = await pages(
        stubs.registry.ListCommunities,
        registry_pb2.ListCommunitiesRequest(page_size=1000),
        "communities",
        md,
    )
    if community:
        d.communities = [c for c in d.communities if c.id == community]
        if not d.communities:
            raise ReportError(f"no community {community!r} that this token may see")
    if street:
        d.communities = [c for c in d.communities if c.street_id == street]
        if not d.communities:
            raise ReportError(f"no street {street!r} that this token may see")
    ids = [c.id for c in d.communities]
    for grids in await gather(
        ids,
        lambda c: pages(
            stubs.registry.ListGrids,
            registry_pb2.ListGridsRequest(community_id=c, page_size=1000),
            "grids",
            md,
        ),
        4,
    ):
        d.grids += grids
    d.members = dict(
        zip(ids, await gather(ids, lambda c: members_of(stubs, md, c), 4), strict=True)
    )
    for group in await gather(ids, lambda c: tasks_of(stubs, md, c), 4):
        d.tasks += [t for t in group if _within(time_from_proto(t.window.start), since, until)]
    found = await gather([t.id for t in d.tasks], lambda t: assignments_of(stubs, md, t), 16)
    d.assignments = {t.id: a for t, a in zip(d.tasks, found, strict=True)}
    await attendance.collect(stubs, md, d)
    if run_id is None:
        runs = await pages(
            stubs.matching.ListMatchRuns,
            matching_pb2.ListMatchRunsRequest(page_size=100),
            "runs",
            md,
        )
        real = [
            r
            for r in runs
            if not r.dry_run
            and r.state == matching_pb2.MATCH_RUN_STATE_SUCCEEDED
            and (not community or r.scope_kind != "community" or r.scope_id == community)
            and (not street or r.scope_kind != "community" or r.scope_id in ids)
            and (not street or r.scope_kind != "street" or r.scope_id == street)
            and _within(time_from_proto(r.finish_time), since, until)
        ]
        real.sort(key=lambda r: time_from_proto(r.finish_time), reverse=True)
        run_id = real[0].id if real else None
    if run_id:
        d.run = (
            await stubs.matching.GetMatchRun(
                matching_pb2.GetMatchRunRequest(id=run_id), metadata=md
            )
        ).run
        d.planned = await pages(
            stubs.matching.ListMatchAssignments,
            matching_pb2.ListMatchAssignmentsRequest(run_id=run_id, page_size=1000),
            "assignments",
            md,
        )
        d.unfilled = await pages(
            stubs.matching.ListUnfilledPlaces,
            matching_pb2.ListUnfilledPlacesRequest(run_id=run_id, page_size=1000),
            "places",
            md,
        )
        if community or street:
            # A district-wide run also planned other communities' places: keep this one's.
            ours = {t.id for t in d.tasks}
            d.planned = [p for p in d.planned if p.task_id in ours]
            d.unfilled = [u for u in d.unfilled if u.task_id in ours]
    d.points = await points_section.collect(stubs, md, ids)
    d.ledger = await ledger.figures(stubs, md, since)
    return d


def _within(when: datetime, since: datetime | None, until: datetime | None) -> bool:
    return (since is None or when >= since) and (until is None or when < until)
