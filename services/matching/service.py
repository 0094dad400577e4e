"""The matching service's use cases: runs, re-offers, suggestions, and keeping its world current.

Planning is CPU work (the exact model may take seconds): the instance is taken from the world in
the event loop, then solved in a worker thread so that the server keeps answering meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import asyncpg

from linli.v1 import events_pb2
from services.common.auth import Principal, Role
from services.common.clock import Clock, system_clock
from services.common.errors import (
    Aborted,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from services.common.settings import MatchingSettings
from services.matching.solver import candidates as cand
from services.matching.solver import solve as slv
from services.matching.solver.model import Params, Weights
from services.matching.solver.result import Result, explain
from services.matching.store import MatchingStore, proposal
from services.matching.world import Scope, World

log = logging.getLogger(__name__)
METHODS = ("auto", "flow", "greedy", "fcfs", "cpsat")


def plan(instance: Any) -> tuple[Result, slv.Plan, float, float]:
    """Candidates, the plan, its explanation, and first come first served on the same input."""
    started = time.perf_counter()
    cands = cand.build(instance)
    built = time.perf_counter() - started
    chosen = slv.solve(instance, cands)
    result = explain(instance, cands, chosen)
    fcfs = slv.greedy(instance, cands, "fcfs")
    return result, fcfs, built, time.perf_counter() - started - built


class Matching:
    def __init__(
        self, store: MatchingStore, settings: MatchingSettings, clock: Clock = system_clock
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.world = World()
        self.reoffers = 0

    async def load(self) -> None:
        await self.store.load(self.world)

    # -- who may do what -----------------------------------------------------------------------

    def _street_of(self, community_id: str) -> str | None:
        for m in self.world.members.values():
            if m.community_id == community_id:
                return m.street_id
        for t in self.world.tasks.values():
            if t.community_id == community_id:
                return t.street_id
        return None

    def authorize(self, principal: Principal, scope: Scope) -> None:
        if principal.is_everywhere:
            return
        if scope.kind == "community" and principal.holds(scope.id, self._street_of(scope.id)):
            return
        if (
            scope.kind == "street"
            and principal.role is Role.STREET_ADMIN
            and scope.id in principal.street_ids
        ):
            return
        raise PermissionDenied(f"{scope.kind} {scope.id or 'district'!r} is outside your scope")

    # -- runs ----------------------------------------------------------------------------------

    async def run(
        self,
        principal: Principal,
        scope: Scope,
        *,
        dry_run: bool,
        method: str,
        time_limit_s: float,
        gap_target: float,
        weights: Weights,
        max_distance_m: float,
    ) -> str:
        v: list[FieldViolation] = [
            FieldViolation(f"weights.{e.split()[0]}", e) for e in weights.validate()
        ]
        if not 0 <= time_limit_s <= 120:
            v.append(FieldViolation("time_limit_s", "must be 0 to 120 seconds"))
        if not 0 <= gap_target <= 0.1:
            v.append(FieldViolation("gap_target", "must be 0 to 0.1"))
        if not 0 <= max_distance_m <= 20_000:
            v.append(FieldViolation("max_distance_m", "must be 0 to 20000 metres"))
        if v:
            raise InvalidArgument(v)
        self.authorize(principal, scope)
        params = Params(
            max_distance_m=max_distance_m or 3000.0,
            time_limit_s=time_limit_s or 10.0,
            gap_target=gap_target or 0.0001,
            method=method,
        )
        async with self.store.scope_lock(scope.key) as got:
            # One run per scope at a time, across every replica of the service.
            if not got:
                running = await self.store.running_run(scope)
                raise Aborted(
                    f"a run for this scope is in progress: {running}",
                    "RUN_IN_PROGRESS",
                    run_id=running or "",
                )
            return await self._run_locked(principal, scope, dry_run, params, weights)

    async def _run_locked(
        self, principal: Principal, scope: Scope, dry_run: bool, params: Params, weights: Weights
    ) -> str:
        run_id, _ = await self.store.start_run(scope, dry_run, params.method, principal.subject)
        try:
            t = time.perf_counter()
            instance = self.world.instance(scope, self.clock(), weights, params)
            load_s = time.perf_counter() - t
            result, fcfs, candidates_s, solve_s = await asyncio.to_thread(plan, instance)
            proposals = (
                []
                if dry_run
                else [
                    proposal(run_id, a.task_id, a.member_id, a.rank, a.explanation())
                    for a in result.assignments
                ]
            )
            figures = _figures(result, fcfs, load_s, candidates_s, solve_s)
            t = time.perf_counter()
            await self.store.finish_run(run_id, result, figures, proposals, principal)
            figures["write_s"] = time.perf_counter() - t
            await self.store.set_figure(run_id, "write_s", figures["write_s"])
            if not dry_run:
                for a in result.assignments:
                    self.world.offer(a.task_id, a.member_id)
            log.info(
                "run %s %s: %d/%d places, gap %s, %.2fs",
                run_id,
                scope.key,
                result.filled,
                result.places,
                result.gap,
                solve_s,
            )
            return run_id
        except Exception as e:
            await self.store.fail_run(run_id, f"{type(e).__name__}: {e}")
            raise

    # -- events --------------------------------------------------------------------------------

    async def on_event(self, conn: asyncpg.Connection, env: events_pb2.EventEnvelope) -> None:
        """Apply one event to the read model, inside the consumer's transaction."""
        if (e := _unpack(env, (events_pb2.CommunityCreated,))) is not None:
            await self.store.apply_community(conn, e.community)
        elif (e := _unpack(env, MEMBER_EVENTS)) is not None:
            await self.store.apply_member(conn, e.member)
        elif (e := _unpack(env, TASK_EVENTS)) is not None:
            await self.store.apply_task(conn, e.task)
        elif (e := _unpack(env, (events_pb2.TaskCompleted,))) is not None:
            await self.store.apply_task(conn, e.task)
            for a in e.assignments:
                await self.store.apply_assignment(conn, a, e.task)
        elif (e := _unpack(env, (events_pb2.AssignmentChanged,))) is not None:
            await self.store.apply_task(conn, e.task)
            await self.store.apply_assignment(conn, e.assignment, e.task)
            if env.subject.endswith(FREED):
                await self.store.refuse(
                    conn, e.assignment.task_id, e.assignment.member_id, env.subject.rsplit(".")[-1]
                )
        elif (e := _unpack(env, (events_pb2.ProposalRejected,))) is not None and not (
            e.place_unavailable
        ):
            await self.store.refuse(conn, e.task_id, e.member_id, e.reason[:200])

    async def after_event(self, env: events_pb2.EventEnvelope) -> None:
        """Once an event is committed: bring memory up to date, and re-offer freed places."""
        members: list[str] = []
        tasks: list[str] = []
        assignments: list[str] = []
        reoffer: tuple[str, str] | None = None  # (task, the run that proposed)
        if (e := _unpack(env, MEMBER_EVENTS)) is not None:
            members.append(e.member.id)
        elif (e := _unpack(env, TASK_EVENTS)) is not None:
            tasks.append(e.task.id)
        elif (e := _unpack(env, (events_pb2.TaskCompleted,))) is not None:
            tasks.append(e.task.id)
            assignments += [a.id for a in e.assignments]
        elif (e := _unpack(env, (events_pb2.AssignmentChanged,))) is not None:
            tasks.append(e.task.id)
            assignments.append(e.assignment.id)
            if env.subject.endswith(FREED) and e.assignment.match_run_id:
                reoffer = (e.task.id, e.assignment.match_run_id)
        elif (e := _unpack(env, (events_pb2.ProposalRejected,))) is not None:
            tasks.append(e.task_id)
            self.world.settle(e.task_id, e.member_id)
            if not e.place_unavailable:
                reoffer = (e.task_id, e.match_run_id)
        if members or tasks or assignments:
            await self.store.refresh(
                self.world, members=members, tasks=tasks, assignments=assignments
            )
        if reoffer is not None and self.settings.reoffer:
            await self.reoffer(*reoffer)

    async def reoffer(self, task_id: str, run_id: str) -> int:
        """Offer a task's free places to the next best eligible members, at once."""
        now = self.clock()
        t = self.world.tasks.get(task_id)
        if t is None:
            return 0
        free = self.world.open_places(t, now)
        if free == 0:
            return 0
        best = self.world.suggest_members(task_id, free, now, Weights(), 3000.0)
        if not best:
            return 0
        await self.store.propose(
            [
                proposal(run_id, task_id, member_id, rank, f"re-offered: {why}")
                for rank, (member_id, _score, _d, why) in enumerate(best, start=1)
            ]
        )
        for member_id, *_ in best:
            self.world.offer(task_id, member_id)
        self.reoffers += len(best)
        log.info("re-offered %d place(s) of task %s", len(best), task_id)
        return len(best)

    # -- suggestions ---------------------------------------------------------------------------

    def suggest_members(
        self, principal: Principal, task_id: str, limit: int
    ) -> list[tuple[str, float, float, str]]:
        t = self.world.tasks.get(task_id)
        if t is None:
            if principal.is_everywhere:
                raise NotFound("task", task_id)
            raise PermissionDenied("this task is outside your scope")
        if principal.role is Role.MEMBER or not principal.holds(t.community_id, t.street_id):
            raise PermissionDenied("this task is outside your scope")
        return self.world.suggest_members(task_id, _limit(limit), self.clock(), Weights(), 3000.0)

    def suggest_tasks(
        self, principal: Principal, member_id: str, limit: int
    ) -> list[tuple[str, float, float, str]]:
        if principal.role is Role.MEMBER:
            if member_id and member_id != principal.subject:
                raise PermissionDenied("members ask for their own suggestions")
            member_id = principal.subject
        elif not member_id:
            raise InvalidArgument(FieldViolation("member_id", "is required"))
        m = self.world.members.get(member_id)
        if (
            principal.role is not Role.MEMBER
            and not principal.is_everywhere
            and (m is None or not principal.holds(m.community_id, m.street_id))
        ):
            raise PermissionDenied("this member is outside your scope")
        return self.world.suggest_tasks(member_id, _limit(limit), self.clock(), Weights(), 3000.0)


MEMBER_EVENTS = (
    events_pb2.MemberRegistered,
    events_pb2.MemberUpdated,
    events_pb2.MemberReportedIn,
    events_pb2.MemberDeactivated,
)
TASK_EVENTS = (
    events_pb2.TaskPosted,
    events_pb2.TaskCancelled,
    events_pb2.TaskExpired,
    events_pb2.TaskClosed,
)
# A matching proposal that ends this way frees its place for the next best member.
FREED = (".declined", ".expired")


def _unpack(env: events_pb2.EventEnvelope, kinds: tuple[type[Any], ...]) -> Any | None:
    """The envelope's payload if it is one of `kinds`, else None."""
    for kind in kinds:
        if env.payload.Is(kind.DESCRIPTOR):
            message = kind()
            env.payload.Unpack(message)
            return message
    return None


def _limit(limit: int) -> int:
    if not 0 <= limit <= 50:
        raise InvalidArgument(FieldViolation("limit", "must be 0 to 50"))
    return limit or 10


def _figures(
    result: Result, fcfs: slv.Plan, load_s: float, candidates_s: float, solve_s: float
) -> dict[str, Any]:
    return {
        "solver_status": result.status,
        "members": result.members,
        "tasks": result.tasks,
        "places": result.places,
        "candidate_pairs": result.pairs,
        "components": result.components,
        "load_s": load_s,
        "candidates_s": candidates_s,
        "solve_s": solve_s,
        "objective": result.objective,
        "bound": result.bound,
        "gap": result.gap,
        "places_filled": result.filled,
        "filled_by_group": {g: list(v) for g, v in result.filled_by_group.items()},
        "mean_distance_m": result.mean_distance_m,
        "p95_distance_m": result.p95_distance_m,
        "members_used": int(result.load_spread.get("members_used", 0)),
        "hours_stdev": result.load_spread.get("stdev_hours", 0.0),
        "most_places": int(result.load_spread.get("most_tasks", 0)),
        "fcfs_objective": fcfs.objective / 100,
        "fcfs_places_filled": len(fcfs.pairs),
    }
