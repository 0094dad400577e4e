"""The matching service's gRPC servicer: proto in, use case, proto out."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import asyncpg
from grpc import aio

from linli.v1 import matching_pb2 as pb
from linli.v1 import matching_pb2_grpc
from services.common import paging
from services.common.auth import Principal, Role, current_principal
from services.common.errors import FieldViolation, InvalidArgument, NotFound, PermissionDenied
from services.common.interceptors import methods
from services.common.protoconv import ts
from services.matching.service import Matching
from services.matching.solver.model import Weights
from services.matching.solver.result import REASONS
from services.matching.world import Scope

# What a member may never call: refused at the door, before the request is looked at.
STAFF_ONLY = methods(
    pb.DESCRIPTOR.services_by_name["MatchingService"],
    "RunMatching",
    "GetMatchRun",
    "ListMatchRuns",
    "ListMatchAssignments",
    "ListUnfilledPlaces",
    "SuggestMembers",
)

METHOD_NAMES: dict[int, str] = {
    pb.MATCH_METHOD_UNSPECIFIED: "auto",
    pb.MATCH_METHOD_AUTO: "auto",
    pb.MATCH_METHOD_FLOW: "flow",
    pb.MATCH_METHOD_GREEDY: "greedy",
    pb.MATCH_METHOD_FCFS: "fcfs",
    pb.MATCH_METHOD_CPSAT: "cpsat",
}
METHOD_ENUMS = {
    "auto": pb.MATCH_METHOD_AUTO,
    "flow": pb.MATCH_METHOD_FLOW,
    "greedy": pb.MATCH_METHOD_GREEDY,
    "fcfs": pb.MATCH_METHOD_FCFS,
    "cpsat": pb.MATCH_METHOD_CPSAT,
}
STATES = {
    "running": pb.MATCH_RUN_STATE_RUNNING,
    "succeeded": pb.MATCH_RUN_STATE_SUCCEEDED,
    "failed": pb.MATCH_RUN_STATE_FAILED,
}


# Ids of the organisation are short printable text; anything else names nothing (and is not
# echoed back at length).
MAX_ID_LENGTH = 64


def text_id(value: str, field: str) -> str:
    if len(value) > MAX_ID_LENGTH or not value.isprintable():
        raise InvalidArgument(
            FieldViolation(field, f"must be at most {MAX_ID_LENGTH} printable characters")
        )
    return value


def uuid_id(value: str, field: str) -> str:
    if not value:
        raise InvalidArgument(FieldViolation(field, "is required"))
    try:
        return str(uuid.UUID(value[:64]))
    except ValueError:
        raise InvalidArgument(FieldViolation(field, "is not a valid id")) from None


def scope_of(community_id: str, street_id: str) -> Scope:
    text_id(community_id, "community_id")
    text_id(street_id, "street_id")
    if community_id and street_id:
        raise InvalidArgument(FieldViolation("street_id", "give a community or a street, not both"))
    if community_id:
        return Scope("community", community_id)
    if street_id:
        return Scope("street", street_id)
    return Scope("district")


def sees_every_member(principal: Principal, r: asyncpg.Record) -> bool:
    """Whether the caller may see exact distances of every member a run could plan: members of
    other communities take street-wide places in a community's run."""
    if principal.is_everywhere:
        return True
    return principal.role is Role.STREET_ADMIN and r["street_id"] in principal.street_ids


# A run's figures that mix in every planned member's exact distance, hours or reliability.
OUTSIDE_MEMBER_FIGURES = ("objective", "bound", "fcfs_objective", "hours_stdev")


def run_to_proto(r: asyncpg.Record, principal: Principal) -> pb.MatchRun:
    f = json.loads(r["figures"])
    if not sees_every_member(principal, r):
        # Distance figures from members' public cells: a mean over exact distances would give
        # away one member's, given the others'.
        for name in ("mean_distance_m", "p95_distance_m"):
            f[name] = f.get(f"public_{name}", f.get(name))
        if f.get("outside_members", 1):
            # Sums over every planned pair (scores from exact distances, less fairness costs from
            # members' hours) and the spread of members' hours give away an outside member's
            # distance and record, given those of the caller's own members: withheld (a run
            # recorded before this was counted is treated as holding such members).
            for name in OUTSIDE_MEMBER_FIGURES:
                f[name] = 0.0
    out = pb.MatchRun(
        id=str(r["id"]),
        scope_kind=r["scope_kind"],
        scope_id=r["scope_id"],
        state=STATES[r["state"]],
        dry_run=r["dry_run"],
        method=METHOD_ENUMS.get(r["method"], pb.MATCH_METHOD_UNSPECIFIED),
        error=r["error"],
        requested_by=r["requested_by"],
        create_time=ts(r["created_at"]),
        finish_time=ts(r["finished_at"]),
        filled_by_group=[
            pb.GroupFill(group=g, filled=v[0], places=v[1])
            for g, v in f.get("filled_by_group", {}).items()
        ],
    )
    for name in ("solver_status",):
        setattr(out, name, f.get(name) or "")
    for name in (
        "members",
        "tasks",
        "places",
        "candidate_pairs",
        "components",
        "places_filled",
        "members_used",
        "most_places",
        "fcfs_places_filled",
    ):
        setattr(out, name, int(f.get(name) or 0))
    for name in (
        "load_s",
        "candidates_s",
        "solve_s",
        "write_s",
        "objective",
        "bound",
        "gap",
        "mean_distance_m",
        "p95_distance_m",
        "hours_stdev",
        "fcfs_objective",
    ):
        setattr(out, name, float(f.get(name) or 0.0))
    return out


def _weights(w: pb.MatchWeights) -> Weights:
    base = Weights()
    return Weights(
        **{
            name: getattr(w, name) if w.HasField(name) else getattr(base, name)  # type: ignore[arg-type]
            for name in base.__dict__
        }
    )


def _position(token: str, run_id: str) -> int:
    after = paging.decode(token, {"run": run_id})
    try:
        position = -1 if after is None else int(after)
    except ValueError:
        position = -2
    if not -1 <= position < 2**31 - 1:
        raise InvalidArgument(FieldViolation("page_token", "not a token this service issued"))
    return position


def _after_run(token: str, filters: dict[str, str]) -> tuple[datetime, str] | None:
    after = paging.decode(token, filters)
    if after is None:
        return None
    when, _, run_id = after.partition("|")
    try:
        key = (datetime.fromisoformat(when), str(uuid.UUID(run_id)))
    except ValueError:
        key = None
    if key is None or key[0].tzinfo is None:
        raise InvalidArgument(FieldViolation("page_token", "not a token this service issued"))
    return key


def _method(value: int) -> str:
    if value not in METHOD_NAMES:
        raise InvalidArgument(FieldViolation("method", "is not a known MatchMethod"))
    return METHOD_NAMES[value]


class MatchingApi(matching_pb2_grpc.MatchingServiceServicer):
    def __init__(self, matching: Matching) -> None:
        self.m = matching

    async def RunMatching(
        self, request: pb.RunMatchingRequest, context: aio.ServicerContext
    ) -> pb.RunMatchingResponse:
        run_id = await self.m.run(
            current_principal(),
            scope_of(request.community_id, request.street_id),
            dry_run=request.dry_run,
            method=_method(request.method),
            time_limit_s=request.time_limit_s,
            gap_target=request.gap_target,
            weights=_weights(request.weights),
            max_distance_m=request.max_distance_m,
        )
        record = await self.m.store.get_run(run_id)
        assert record is not None
        return pb.RunMatchingResponse(run=run_to_proto(record, current_principal()))

    async def _visible_run(
        self, principal: Principal, run_id: str, field: str = "id"
    ) -> asyncpg.Record:
        run_id = uuid_id(run_id, field)
        record = await self.m.store.get_run(run_id)
        if record is None:
            if principal.is_everywhere:
                raise NotFound("match run", run_id)
            raise PermissionDenied("this run is outside your scope")
        if principal.is_everywhere:
            return record
        try:
            self.m.authorize(principal, Scope(record["scope_kind"], record["scope_id"]))
        except (PermissionDenied, InvalidArgument):
            raise PermissionDenied("this run is outside your scope") from None
        return record

    async def GetMatchRun(
        self, request: pb.GetMatchRunRequest, context: aio.ServicerContext
    ) -> pb.GetMatchRunResponse:
        record = await self._visible_run(current_principal(), request.id)
        return pb.GetMatchRunResponse(run=run_to_proto(record, current_principal()))

    async def ListMatchRuns(
        self, request: pb.ListMatchRunsRequest, context: aio.ServicerContext
    ) -> pb.ListMatchRunsResponse:
        principal = current_principal()
        filters = {"community_id": request.community_id, "street_id": request.street_id}
        scope = scope_of(request.community_id, request.street_id)
        limit = paging.page_size(request.page_size)
        key = _after_run(request.page_token, filters)
        if scope.kind == "district" and not principal.is_everywhere:
            # No filter: the runs of the caller's own scope (their communities, or their
            # streets with the streets' communities).
            if principal.role is Role.MEMBER:
                raise PermissionDenied("members do not see matching runs")
            rows = await self.m.store.list_runs(
                kind=None,
                scope_id="",
                after=key,
                limit=limit + 1,
                communities=sorted(principal.community_ids),
                streets=sorted(principal.street_ids) if principal.role is Role.STREET_ADMIN else [],
            )
        else:
            self.m.authorize(principal, scope)
            rows = await self.m.store.list_runs(
                kind=None if scope.kind == "district" else scope.kind,
                scope_id=scope.id,
                after=key,
                limit=limit + 1,
            )
        more = len(rows) > limit
        rows = rows[:limit]
        token = (
            paging.encode(f"{rows[-1]['created_at'].isoformat()}|{rows[-1]['id']}", filters)
            if more
            else ""
        )
        return pb.ListMatchRunsResponse(
            runs=[run_to_proto(r, principal) for r in rows], next_page_token=token
        )

    async def ListMatchAssignments(
        self, request: pb.ListMatchAssignmentsRequest, context: aio.ServicerContext
    ) -> pb.ListMatchAssignmentsResponse:
        principal = current_principal()
        run = await self._visible_run(principal, request.run_id, "run_id")
        figures = json.loads(run["figures"])
        limit = paging.page_size(request.page_size)
        rows = await self.m.store.run_rows(
            "match_assignment",
            request.run_id,
            _position(request.page_token, request.run_id),
            limit + 1,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        shown = [(r, self.m.shown_assignment(principal, r, figures)) for r in rows]
        return pb.ListMatchAssignmentsResponse(
            assignments=[
                pb.MatchAssignment(
                    run_id=str(run["id"]),
                    task_id=str(r["task_id"]),
                    member_id=str(r["member_id"]),
                    score=v["score"],
                    distance_m=v["distance_m"],
                    explanation=v["explanation"],
                    alternatives=[
                        pb.Alternative(member_id=a[0], score=a[1], distance_m=a[2], status=a[3])
                        for a in v["alternatives"]
                    ],
                )
                for r, v in shown
            ],
            next_page_token=paging.encode(str(rows[-1]["position"]), {"run": request.run_id})
            if more
            else "",
        )

    async def ListUnfilledPlaces(
        self, request: pb.ListUnfilledPlacesRequest, context: aio.ServicerContext
    ) -> pb.ListUnfilledPlacesResponse:
        await self._visible_run(current_principal(), request.run_id, "run_id")
        limit = paging.page_size(request.page_size)
        rows = await self.m.store.run_rows(
            "match_unfilled",
            request.run_id,
            _position(request.page_token, request.run_id),
            limit + 1,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        return pb.ListUnfilledPlacesResponse(
            places=[
                pb.UnfilledPlace(
                    run_id=request.run_id,
                    task_id=str(r["task_id"]),
                    places=r["places"],
                    reason=r["reason"],
                    explanation=REASONS.get(r["reason"], r["reason"]),
                    candidates=r["candidates"],
                )
                for r in rows
            ],
            next_page_token=paging.encode(str(rows[-1]["position"]), {"run": request.run_id})
            if more
            else "",
        )

    async def SuggestMembers(
        self, request: pb.SuggestMembersRequest, context: aio.ServicerContext
    ) -> pb.SuggestMembersResponse:
        task_id = uuid_id(request.task_id, "task_id")
        rows = await self.m.suggest_members(current_principal(), task_id, request.limit)
        return pb.SuggestMembersResponse(
            members=[
                pb.MemberSuggestion(member_id=m, score=s, distance_m=d, reason=why)
                for m, s, d, why in rows
            ]
        )

    async def SuggestTasks(
        self, request: pb.SuggestTasksRequest, context: aio.ServicerContext
    ) -> pb.SuggestTasksResponse:
        member_id = uuid_id(request.member_id, "member_id") if request.member_id else ""
        rows = await self.m.suggest_tasks(current_principal(), member_id, request.limit)
        return pb.SuggestTasksResponse(
            tasks=[
                pb.TaskSuggestion(task_id=t, score=s, distance_m=d, reason=why)
                for t, s, d, why in rows
            ]
        )
