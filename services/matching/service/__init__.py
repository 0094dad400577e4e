"""The matching service's use cases: runs, re-offers, suggestions, and what callers see of runs.

Planning is CPU work (the exact model may take seconds): the instance is taken from the world in
the event loop, then solved in a worker thread so that the server keeps answering meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TypeVar

from services.common import audit, metrics, paging
from services.common.auth import Principal
from services.common.clock import Clock, system_clock
from services.common.erasure import require_export_or_erase
from services.common.errors import DomainError, FieldViolation, InvalidArgument
from services.common.settings import MatchingSettings
from services.matching import events
from services.matching.domain import access, reoffer, runs, suggestions, views
from services.matching.domain.errors import INVALID_TASK, RunInProgress, TooManyRuns
from services.matching.domain.rows import AssignmentRow, MemberRow, TaskRow
from services.matching.domain.runs import RunRecord, UnfilledPlace
from services.matching.domain.scope import Scope
from services.matching.domain.world import World
from services.matching.service.drafts import DraftUseCases
from services.matching.service.planning import plan
from services.matching.service.reoffers import ReofferUseCases
from services.matching.solver.model import Params, Weights
from services.matching.solver.result import Unfilled
from services.matching.store import MatchingStore

log = logging.getLogger(__name__)
# How far from home suggestions reach: the default of a run.
SUGGESTION_REACH_M = 3000.0
T = TypeVar("T")


class Matching(DraftUseCases, ReofferUseCases):
    def __init__(
        self, store: MatchingStore, settings: MatchingSettings, clock: Clock = system_clock
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.world = World()
        self.reoffers = 0
        self.running = 0  # runs being planned by this process
        # The weights and reach of the runs whose places are re-offered, by run.
        self._asked: dict[str, tuple[Weights, float]] = {}
        # Set (and replaced) each time the world takes in an event.
        self._updated = asyncio.Event()

    def export_member(
        self, principal: Principal, member_id: str
    ) -> tuple[MemberRow | None, list[AssignmentRow], list[str], list[str]]:
        """What the service holds about a member: the read model's row, their assignments, the
        tasks proposed to them and not yet answered for, and the tasks they refused."""
        require_export_or_erase(principal, member_id, "exported")
        w = self.world
        return (
            w.members.get(member_id),
            [w.assignments[a] for a in sorted(w.by_member.get(member_id, ()))],
            sorted(t for t, m in w.pending if m == member_id),
            sorted(t for t, m in w.refusals if m == member_id),
        )

    async def load(self) -> None:
        await self.fail_lapsed_runs()
        await self.store.load(self.world)

    async def fail_lapsed_runs(self) -> None:
        """A run whose lease lapsed was cut off with the process that ran it (killed before it
        could say so): marked failed, at start and then periodically, by whichever replica."""
        interrupted = await self.store.fail_lapsed_runs(self.settings.run_lease_s)
        if interrupted:
            log.warning("marked %d run(s) of a stopped process failed", interrupted)

    def changed(self) -> None:
        """The world took in an event: wake those waiting for it."""
        self._updated.set()
        self._updated = asyncio.Event()

    async def _deny_after(self, started: float, error: DomainError) -> None:
        """Refuse no sooner than a missing object would be: the time taken tells nothing."""
        rest = started + self.settings.read_model_wait_s - asyncio.get_running_loop().time()
        if rest > 0:
            await asyncio.sleep(rest)
        raise error

    async def _seen(self, found: Callable[[], T | None]) -> T | None:
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
        draft: bool = False,
    ) -> RunRecord:
        """Plan the scope's open places and (unless a dry run or a draft) propose them; the run
        as the caller may see it."""
        params = runs.run_params(
            method,
            time_limit_s,
            gap_target,
            weights,
            max_distance_m,
            self.settings.overbook_min_headcount,
        )
        if draft and dry_run:
            raise InvalidArgument(FieldViolation("draft", "a dry run keeps no draft"))
        street = access.authorize(principal, scope, self.world.communities)
        # A cap on runs planned at once: each holds a worker thread and memory while it plans;
        # beyond it the caller is told to come back rather than queued behind them.
        if self.running >= self.settings.max_concurrent_runs:
            metrics.MATCHING_RUNS.labels("refused").inc()
            raise TooManyRuns(self.settings.max_concurrent_runs, self.settings.run_retry_after_s)
        self.running += 1
        try:
            run_id, clash = await self.store.start_run(
                scope,
                street,
                dry_run or draft,
                params.method,
                principal.subject,
                self.settings.run_lease_s,
            )
            if run_id is None:
                metrics.MATCHING_RUNS.labels("refused").inc()
                raise RunInProgress(clash)
            lease = asyncio.ensure_future(self._renew(run_id))
            try:
                await self._run_started(run_id, principal, scope, dry_run, params, weights, draft)
            finally:
                lease.cancel()
        finally:
            self.running -= 1
        record = await self.store.get_run(run_id)
        assert record is not None
        return views.shown_run(record, principal)

    async def _renew(self, run_id: str) -> None:
        """Keep a run's lease while it plans (other replicas fail runs whose lease lapsed)."""
        while True:
            await asyncio.sleep(self.settings.run_lease_s / 3)
            if not await self.store.renew(run_id):
                log.warning("run %s: lease not renewed; retrying", run_id)

    async def _run_started(
        self,
        run_id: str,
        principal: Principal,
        scope: Scope,
        dry_run: bool,
        params: Params,
        weights: Weights,
        draft: bool,
    ) -> None:
        try:
            t = time.perf_counter()
            now = self.clock()
            instance = self.world.instance(scope, now, weights, params)
            invalid = self.world.invalid_tasks(scope, now)
            load_s = time.perf_counter() - t
            done = await asyncio.to_thread(plan, instance)
            result, candidates_s, solve_s = done.result, done.candidates_s, done.solve_s
            for task_id, places, why in invalid:
                # One task the planner cannot take never fails the run: it stays unmatched.
                log.warning("run %s: task %s left out: %s", run_id, task_id, why)
                result.unfilled.append(Unfilled(task_id, places, INVALID_TASK, 0))
            proposals = (
                []
                if dry_run or draft
                else [
                    events.proposal_made(
                        run_id,
                        a.task_id,
                        a.member_id,
                        a.rank,
                        reoffer.proposal_reason(self.world, a),
                    )
                    for a in result.assignments
                ]
            )
            figures = runs.figures(
                result,
                done.fcfs,
                runs.Timings(load_s, candidates_s, solve_s),
                weights,
                params,
                invalid_tasks=len(invalid),
                outside_members=runs.outside_members(scope, instance),
                public_distances=[
                    self.world.public_distance(a.task_id, a.member_id) for a in result.assignments
                ],
            )
            t = time.perf_counter()
            # Held before the proposals can be answered: the task service's answer, whenever it
            # comes, always finds the offer it settles.
            offered = [(p.task_id, p.member_id) for _subject, p in proposals]
            for task_id, member_id in offered:
                self.world.offer(task_id, member_id)
            try:
                await self.store.finish_run(
                    run_id,
                    runs.planned(result, self.world.public_distance, weights),
                    runs.unfilled(result),
                    figures,
                    proposals,
                    principal,
                    draft=draft,
                )
            except BaseException:
                for task_id, member_id in offered:
                    self.world.settle(task_id, member_id)
                raise
            write_s = time.perf_counter() - t
            await self.store.set_figure(run_id, "write_s", write_s)
            phases = {"load": load_s, "candidates": candidates_s, "solve": solve_s}
            metrics.observe_run({**phases, "write": write_s}, result.gap, result.filled, dry_run)
            log.info(
                "run %s %s: %d/%d places, gap %s, %.2fs",
                run_id,
                scope.key,
                result.filled,
                result.places,
                result.gap,
                solve_s,
            )
        except asyncio.CancelledError:
            # Cut off (the call cancelled, the process stopping): never left running.
            metrics.MATCHING_RUNS.labels("failed").inc()
            await asyncio.shield(self.store.fail_run(run_id, "interrupted"))
            raise
        except Exception as e:
            metrics.MATCHING_RUNS.labels("failed").inc()
            await self.store.fail_run(run_id, f"{type(e).__name__}: {e}")
            raise

    # -- what callers see of runs ----------------------------------------------------------------

    async def _visible_run(self, principal: Principal, run_id: str) -> RunRecord:
        run = await self.store.get_run(run_id)
        refusal = access.run_refusal(principal, run_id, run, self.world.communities)
        if refusal is not None:
            raise refusal
        assert run is not None
        return run

    async def get_run(self, principal: Principal, run_id: str) -> RunRecord:
        return views.shown_run(await self._visible_run(principal, run_id), principal)

    async def list_runs(
        self, principal: Principal, scope: Scope, page_size: int, page_token: str
    ) -> tuple[list[RunRecord], str]:
        """Runs newest first, of the scope asked for or (without one) of the caller's own."""
        filters = {
            "community_id": scope.id if scope.kind == "community" else "",
            "street_id": scope.id if scope.kind == "street" else "",
        }
        cursor = paging.cursor(page_size, page_token, filters, paging.time_uuid_key)
        which = access.runs_listed(principal, scope, self.world.communities)
        rows = await self.store.list_runs(which, cursor.after, cursor.fetch)
        shown, token = cursor.page(rows, lambda r: paging.time_token(r.created_at, r.id))
        return [views.shown_run(r, principal) for r in shown], token

    async def run_assignments(
        self, principal: Principal, run_id: str, page_size: int, page_token: str
    ) -> tuple[list[views.ShownAssignment], str]:
        """A run's planned assignments, each as the caller may see it."""
        run = await self._visible_run(principal, run_id)
        cursor = paging.cursor(page_size, page_token, {"run": run_id}, paging.position_key)
        rows = await self.store.planned(run_id, _position(cursor.after), cursor.fetch)
        shown, token = cursor.page(rows, lambda r: str(r.position))

        def exact(member_id: str) -> bool:
            return access.sees_exactly(principal, self.world.members.get(member_id))

        rows_shown = [views.shown_assignment(run, r, exact) for r in shown]
        for a in rows_shown:
            # An exact distance from home, of the planned member or an alternative, is a reveal.
            for member_id in {a.member_id, *(alt.member_id for alt in a.alternatives)}:
                if exact(member_id):
                    audit.note_reveal(
                        member_id=member_id, task_id=a.task_id, revealed=[audit.DISTANCE]
                    )
        return rows_shown, token

    async def unfilled_places(
        self, principal: Principal, run_id: str, page_size: int, page_token: str
    ) -> tuple[list[UnfilledPlace], str]:
        """A run's empty places, with why each stayed empty."""
        await self._visible_run(principal, run_id)
        cursor = paging.cursor(page_size, page_token, {"run": run_id}, paging.position_key)
        rows = await self.store.unfilled(run_id, _position(cursor.after), cursor.fetch)
        return cursor.page(rows, lambda r: str(r.position))

    # -- suggestions ---------------------------------------------------------------------------

    async def suggest_members(
        self, principal: Principal, task_id: str, limit: int
    ) -> list[suggestions.Suggestion]:
        limit = _limit(limit)
        started = asyncio.get_running_loop().time()
        access.may_suggest_members(principal)
        t: TaskRow | None = await self._seen(lambda: self.world.tasks.get(task_id))
        refusal = access.task_refusal(principal, task_id, t)
        if refusal is not None:
            # A missing task was waited for already; another's is refused after the same time.
            await self._deny_after(started, refusal)
        found = suggestions.suggest_members(
            self.world,
            task_id,
            limit,
            self.clock(),
            Weights(),
            SUGGESTION_REACH_M,
            exact=lambda m: access.sees_exactly(principal, m),
        )
        for member_id, *_ in found:
            if access.sees_exactly(principal, self.world.members.get(member_id)):
                audit.note_reveal(member_id=member_id, task_id=task_id, revealed=[audit.DISTANCE])
        return found

    async def suggest_tasks(
        self, principal: Principal, member_id: str, limit: int
    ) -> list[suggestions.Suggestion]:
        limit = _limit(limit)
        started = asyncio.get_running_loop().time()
        member_id = access.whose_suggestions(principal, member_id)
        m: MemberRow | None = await self._seen(lambda: self.world.members.get(member_id))
        refusal = access.member_refusal(principal, member_id, m)
        if refusal is not None:
            await self._deny_after(started, refusal)
        return suggestions.suggest_tasks(
            self.world,
            member_id,
            limit,
            self.clock(),
            Weights(),
            SUGGESTION_REACH_M,
            visible=access.visible_tasks(principal),
        )


def _position(after: int | None) -> int:
    """The position to list after: before the first on the first page."""
    return -1 if after is None else after


def _limit(limit: int) -> int:
    if not 0 <= limit <= 50:
        raise InvalidArgument(FieldViolation("limit", "must be 0 to 50"))
    return limit or 10
