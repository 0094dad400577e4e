"""The matching service's use cases: runs, re-offers, suggestions, and keeping its world current.

Planning is CPU work (the exact model may take seconds): the instance is taken from the world in
the event loop, then solved in a worker thread so that the server keeps answering meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import statistics
import time
from typing import Any

import asyncpg

from linli.v1 import events_pb2
from services.common.auth import Principal, Role
from services.common.clock import Clock, system_clock
from services.common.errors import (
    Aborted,
    DomainError,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
)
from services.common.settings import MatchingSettings
from services.common.values import distance_m, public_place
from services.matching.solver import candidates as cand
from services.matching.solver import solve as slv
from services.matching.solver.model import Params, Weights
from services.matching.solver.result import Result, Unfilled, explain
from services.matching.store import MatchingStore, proposal
from services.matching.world import (
    NEUTRAL_FIT,
    NEUTRAL_RELIABILITY,
    MemberRow,
    Scope,
    TaskRow,
    World,
    banded,
)

log = logging.getLogger(__name__)
METHODS = ("auto", "flow", "greedy", "fcfs", "cpsat")


class TooManyRuns(ResourceExhausted):
    """The process plans as many runs as it may at once: retry after the delay given."""

    def __init__(self, limit: int, retry_after_s: float) -> None:
        super().__init__(
            f"{limit} matching runs are in progress; retry later",
            "TOO_MANY_RUNS",
            retry_after_s=retry_after_s,
        )


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
        self.running = 0  # runs being planned by this process
        # Set (and replaced) each time the world takes in an event.
        self._updated = asyncio.Event()

    async def load(self) -> None:
        await self.fail_lapsed_runs()
        await self.store.load(self.world)

    async def fail_lapsed_runs(self) -> None:
        """A run whose lease lapsed was cut off with the process that ran it (killed before it
        could say so): marked failed, at start and then periodically, by whichever replica."""
        interrupted = await self.store.fail_lapsed_runs(self.settings.run_lease_s)
        if interrupted:
            log.warning("marked %d run(s) of a stopped process failed", interrupted)

    # -- who may do what -----------------------------------------------------------------------

    def street_of(self, scope: Scope) -> str | None:
        """The street a scope lies in ('' for the district); None when there is no such place."""
        if scope.kind == "district":
            return ""
        if scope.kind == "community":
            return self.world.communities.get(scope.id)
        return scope.id if scope.id in self.world.communities.values() else None

    def authorize(self, principal: Principal, scope: Scope) -> str:
        """The scope's street, when the caller may act on the scope. Someone else's place and a
        place that does not exist are refused alike; those who may act anywhere learn which
        field names nothing."""
        street = self.street_of(scope)
        denied = PermissionDenied(
            f"{scope.kind} {scope.id[:64] or 'district'!r} is outside your scope"
        )
        if principal.is_everywhere:
            allowed = True
        elif scope.kind == "community":
            allowed = principal.holds(scope.id, street)
        elif scope.kind == "street":
            allowed = principal.role is Role.STREET_ADMIN and scope.id in principal.street_ids
        else:
            allowed = False
        if not allowed:
            raise denied
        if street is None:
            field = "community_id" if scope.kind == "community" else "street_id"
            raise InvalidArgument(FieldViolation(field, f"no such {scope.kind}"))
        return street

    async def _deny_after(self, started: float, error: DomainError) -> None:
        """Refuse no sooner than a missing object would be: the time taken tells nothing."""
        rest = started + self.settings.read_model_wait_s - asyncio.get_running_loop().time()
        if rest > 0:
            await asyncio.sleep(rest)
        raise error

    async def _seen(self, found: Any) -> Any:
        """What `found()` returns once the read model has it, waiting a little for events on
        their way (a wish just posted, a member just registered); None if it never comes."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.read_model_wait_s
        while (got := found()) is None and (rest := deadline - loop.time()) > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(rest):
                    await self._updated.wait()
        return got

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
        street = self.authorize(principal, scope)
        params = Params(
            max_distance_m=max_distance_m or 3000.0,
            time_limit_s=time_limit_s or 10.0,
            gap_target=gap_target or 0.0001,
            method=method,
        )
        # A cap on runs planned at once: each holds a worker thread and memory while it plans;
        # beyond it the caller is told to come back rather than queued behind them.
        if self.running >= self.settings.max_concurrent_runs:
            raise TooManyRuns(self.settings.max_concurrent_runs, self.settings.run_retry_after_s)
        self.running += 1
        try:
            run_id, clash = await self.store.start_run(
                scope, street, dry_run, params.method, principal.subject, self.settings.run_lease_s
            )
            if run_id is None:
                # Runs whose scopes overlap would propose the same places: refused, to retry.
                raise Aborted(
                    f"a run whose scope overlaps this one is in progress: {clash}",
                    "RUN_IN_PROGRESS",
                    run_id=clash or "",
                )
            lease = asyncio.ensure_future(self._renew(run_id))
            try:
                return await self._run_started(run_id, principal, scope, dry_run, params, weights)
            finally:
                lease.cancel()
        finally:
            self.running -= 1

    async def _renew(self, run_id: str) -> None:
        """Keep a run's lease while it plans (other replicas fail runs whose lease lapsed)."""
        while True:
            await asyncio.sleep(self.settings.run_lease_s / 3)
            try:
                await self.store.renew(run_id)
            except (OSError, asyncpg.PostgresError) as e:
                log.warning("run %s: lease not renewed (%s); retrying", run_id, e)

    async def _run_started(
        self,
        run_id: str,
        principal: Principal,
        scope: Scope,
        dry_run: bool,
        params: Params,
        weights: Weights,
    ) -> str:
        try:
            t = time.perf_counter()
            now = self.clock()
            instance = self.world.instance(scope, now, weights, params)
            invalid = self.world.invalid_tasks(scope, now)
            load_s = time.perf_counter() - t
            result, fcfs, candidates_s, solve_s = await asyncio.to_thread(plan, instance)
            for task_id, places, why in invalid:
                # One task the planner cannot take never fails the run: it stays unmatched.
                log.warning("run %s: task %s left out: %s", run_id, task_id, why)
                result.unfilled.append(Unfilled(task_id, places, "invalid_task", 0))
            proposals = (
                []
                if dry_run
                else [
                    proposal(run_id, a.task_id, a.member_id, a.rank, self._why(a))
                    for a in result.assignments
                ]
            )
            figures = _figures(result, fcfs, load_s, candidates_s, solve_s)
            figures["weight_distance"] = weights.distance
            figures["weight_skill"] = weights.skill
            figures["weight_reliability"] = weights.reliability
            figures["max_distance_m"] = params.max_distance_m
            figures["invalid_tasks"] = len(invalid)
            # Members of other communities planned on a community's street-wide places: the
            # figures that add up their exact distances, hours or reliability are not for the
            # community's staff (see run_to_proto).
            figures["outside_members"] = sum(
                1
                for m in instance.members
                if scope.kind == "community" and m.community_id != scope.id
            )
            public = sorted(
                self.public_distance(a.task_id, a.member_id) for a in result.assignments
            )
            figures["public_mean_distance_m"] = statistics.fmean(public) if public else 0.0
            figures["public_p95_distance_m"] = (
                public[int(0.95 * (len(public) - 1))] if public else 0.0
            )
            t = time.perf_counter()
            # Held before the proposals can be answered: the task service's answer, whenever it
            # comes, always finds the offer it settles.
            offered = [] if dry_run else [(a.task_id, a.member_id) for a in result.assignments]
            for task_id, member_id in offered:
                self.world.offer(task_id, member_id)
            try:
                await self.store.finish_run(
                    run_id, result, figures, proposals, principal, self.public_distance
                )
            except BaseException:
                for task_id, member_id in offered:
                    self.world.settle(task_id, member_id)
                raise
            figures["write_s"] = time.perf_counter() - t
            await self.store.set_figure(run_id, "write_s", figures["write_s"])
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
        except asyncio.CancelledError:
            # Cut off (the call cancelled, the process stopping): never left running.
            await asyncio.shield(self.store.fail_run(run_id, "interrupted"))
            raise
        except Exception as e:
            await self.store.fail_run(run_id, f"{type(e).__name__}: {e}")
            raise

    def public_distance(self, task_id: str, member_id: str) -> float:
        """From the member's public cell to the task: what those outside their scope may know."""
        m, t = self.world.members.get(member_id), self.world.tasks.get(task_id)
        if m is None or t is None or m.lat is None or m.lng is None:
            return 0.0
        return distance_m(*public_place(m.lat, m.lng), t.lat, t.lng)

    def _why(self, a: Any) -> str:
        """A proposal's reason, as the task service shows it to the member and to staff: the
        distance as a band from the member's public cell, no other members named."""
        band = banded(self.public_distance(a.task_id, a.member_id))
        return (
            f"within {band:.0f} m of home, skill fit {a.skill_fit:.2f}, "
            f"{a.member_load_hours:.1f} h already this month; rank {a.rank}"
        )

    def sees_exactly(self, principal: Principal, member_id: str) -> bool:
        """Whether the caller may see this member's exact distances (as they may their home)."""
        if principal.is_everywhere:
            return True
        m = self.world.members.get(member_id)
        return (
            m is not None
            and principal.role is not Role.MEMBER
            and principal.holds(m.community_id, m.street_id)
        )

    def shown_assignment(
        self, principal: Principal, row: asyncpg.Record, figures: dict[str, Any]
    ) -> dict[str, Any]:
        """A planned assignment as this caller may see it: members outside their scope by the
        band of the distance from their public cell, with the score that distance would give."""
        reach = float(figures.get("max_distance_m") or 3000.0)
        weight = float(figures.get("weight_distance", 20.0))
        w_skill = float(figures.get("weight_skill", 15.0))
        w_reliability = float(figures.get("weight_reliability", 10.0))

        def shown(
            member_id: str, score: float, exact: float, public: float | None, record: list[float]
        ) -> tuple:
            if self.sees_exactly(principal, member_id):
                return score, exact, f"{exact:.0f} m"
            band = banded(exact if public is None else public)
            moved = weight * (max(0.0, 1 - band / reach) - max(0.0, 1 - exact / reach))
            if record:
                # Nor the member's record: scored as any member meeting the task's minimums.
                fit, reliability = record
                moved += w_skill * (NEUTRAL_FIT - fit)
                moved += w_reliability * (NEUTRAL_RELIABILITY - reliability)
            return round(score + moved, 1), band, f"within {band:.0f} m"

        member_id = str(row["member_id"])
        facts = json.loads(row["facts"])
        score, distance, said = shown(
            member_id,
            row["score"],
            row["distance_m"],
            row["public_distance_m"],
            [facts["skill_fit"], facts["reliability"]] if facts else [],
        )
        alternatives = []
        for alt in json.loads(row["alternatives"]):
            a_score, a_distance, _ = shown(
                alt[0], alt[1], alt[2], alt[4] if len(alt) > 4 else None, alt[5:7]
            )
            alternatives.append((alt[0], a_score, a_distance, alt[3]))
        alts = (
            "; ".join(f"{m} ({sc:.1f}, {d:.0f} m, {st})" for m, sc, d, st in alternatives) or "none"
        )
        if facts and not self.sees_exactly(principal, member_id):
            # Skill fit, load and reliability are the member's record: not for this caller.
            explanation = (
                f"{said} from home; score {score:.1f} (rank {facts['rank']}); next best: {alts}"
            )
        elif facts:
            explanation = (
                f"{said} from home, skill fit {facts['skill_fit']:.2f}, "
                f"{facts['load_hours']:.1f} h already this month, reliability "
                f"{facts['reliability']:.2f}; score {score:.1f} (rank {facts['rank']}); "
                f"next best: {alts}"
            )
        elif self.sees_exactly(principal, member_id) and all(
            self.sees_exactly(principal, a[0]) for a in alternatives
        ):
            explanation = row["explanation"]
        else:
            explanation = f"{said} from home"
        return {
            "score": score,
            "distance_m": distance,
            "explanation": explanation,
            "alternatives": alternatives,
        }

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
            await self.store.answered(conn, e.assignment.task_id, e.assignment.member_id)
            if env.subject.endswith(FREED):
                await self.store.refuse(
                    conn, e.assignment.task_id, e.assignment.member_id, env.subject.rsplit(".")[-1]
                )
        elif (e := _unpack(env, (events_pb2.ProposalRejected,))) is not None:
            await self.store.answered(conn, e.task_id, e.member_id)
            if not e.place_unavailable:
                await self.store.refuse(conn, e.task_id, e.member_id, e.reason[:200])

    async def after_event(self, env: events_pb2.EventEnvelope) -> None:
        """Once an event is committed: bring memory up to date, and re-offer freed places."""
        members: list[str] = []
        tasks: list[str] = []
        assignments: list[str] = []
        reoffer: tuple[str, str] | None = None  # (task, the run that proposed)
        if (e := _unpack(env, (events_pb2.CommunityCreated,))) is not None:
            self.world.put_community(e.community.id, e.community.street_id)
        elif (e := _unpack(env, MEMBER_EVENTS)) is not None:
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
        self._updated.set()
        self._updated = asyncio.Event()
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
        for member_id, *_ in best:
            self.world.offer(task_id, member_id)
        try:
            await self.store.propose(
                [
                    proposal(
                        run_id,
                        task_id,
                        member_id,
                        rank,
                        # As for a run's proposals: a band, since the task service shows it.
                        "re-offered: within "
                        f"{banded(self.public_distance(task_id, member_id)):.0f} m of home",
                    )
                    for rank, (member_id, *_) in enumerate(best, start=1)
                ]
            )
        except BaseException:
            for member_id, *_ in best:
                self.world.settle(task_id, member_id)
            raise
        self.reoffers += len(best)
        log.info("re-offered %d place(s) of task %s", len(best), task_id)
        return len(best)

    # -- suggestions ---------------------------------------------------------------------------

    async def suggest_members(
        self, principal: Principal, task_id: str, limit: int
    ) -> list[tuple[str, float, float, str]]:
        limit = _limit(limit)
        started = asyncio.get_running_loop().time()
        denied = PermissionDenied("this task is outside your scope")
        if principal.role is Role.MEMBER:
            raise denied
        t: TaskRow | None = await self._seen(lambda: self.world.tasks.get(task_id))
        if t is None:
            if principal.is_everywhere:
                raise NotFound("task", task_id)
            raise denied
        if not principal.holds(t.community_id, t.street_id):
            await self._deny_after(started, denied)
        return self.world.suggest_members(
            task_id,
            limit,
            self.clock(),
            Weights(),
            3000.0,
            exact=lambda m: self.sees_exactly(principal, m.id),
        )

    async def suggest_tasks(
        self, principal: Principal, member_id: str, limit: int
    ) -> list[tuple[str, float, float, str]]:
        limit = _limit(limit)
        started = asyncio.get_running_loop().time()
        if principal.role is Role.MEMBER:
            if member_id and member_id != principal.subject:
                raise PermissionDenied("members ask for their own suggestions")
            member_id = principal.subject
        elif not member_id:
            raise InvalidArgument(FieldViolation("member_id", "is required"))
        m: MemberRow | None = await self._seen(lambda: self.world.members.get(member_id))
        if principal.role is Role.MEMBER or principal.is_everywhere:
            if m is None:
                raise NotFound("member", member_id)
        elif m is None or not principal.holds(m.community_id, m.street_id):
            await self._deny_after(started, PermissionDenied("this member is outside your scope"))
        if principal.role is Role.MEMBER or principal.is_everywhere:
            return self.world.suggest_tasks(member_id, limit, self.clock(), Weights(), 3000.0)
        # Staff are suggested only tasks they may see: another community's street-wide task is
        # the member's to see, not theirs (its id answers them as a missing one would).
        return self.world.suggest_tasks(
            member_id,
            limit,
            self.clock(),
            Weights(),
            3000.0,
            visible=lambda t: principal.holds(t.community_id, t.street_id),
        )


MEMBER_EVENTS = (
    events_pb2.MemberRegistered,
    events_pb2.MemberUpdated,
    events_pb2.MemberReportedIn,
    events_pb2.MemberDeactivated,
    events_pb2.MemberReactivated,
)
TASK_EVENTS = (
    events_pb2.TaskPosted,
    events_pb2.TaskCancelled,
    events_pb2.TaskExpired,
    events_pb2.TaskClosed,
)
# A matching proposal that ends this way frees its place for the next best member, and its
# member is not proposed for that task again.
FREED = (".declined", ".expired", ".withdrawn")


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
