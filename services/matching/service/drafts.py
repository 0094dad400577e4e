"""The use cases of a draft run: staff pin or remove pairs and the draft is planned again
(keeping its pins, the places accepted meanwhile, and as many of its pairs as the objective
allows), then publish it: its pairs are proposed as a run's are."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import replace

from services.common.auth import Principal
from services.common.clock import Clock
from services.common.errors import FieldViolation, InvalidArgument
from services.common.settings import MatchingSettings
from services.matching import events
from services.matching.domain import access, reoffer, runs, views
from services.matching.domain.eligibility import eligible
from services.matching.domain.errors import NotADraft, TooManyRuns
from services.matching.domain.rows import TaskRow
from services.matching.domain.runs import RunRecord
from services.matching.domain.scope import Scope
from services.matching.domain.world import World
from services.matching.service.planning import plan
from services.matching.store import MatchingStore

PIN, REMOVE = "pin", "remove"
# Edits one call may make: a draft's pairs are a few thousand at most.
MOST_EDITS = 500


class DraftUseCases:
    """Mixed into the matching service's use cases (`Matching`), whose parts these are."""

    store: MatchingStore
    world: World
    settings: MatchingSettings
    clock: Clock
    running: int

    async def _visible_run(self, principal: Principal, run_id: str) -> RunRecord:
        raise NotImplementedError  # the use cases' own, shared with every read of a run

    async def _draft(self, principal: Principal, run_id: str) -> tuple[RunRecord, Scope]:
        """The draft, when the caller may act on its scope (as for running matching there)."""
        run = await self._visible_run(principal, run_id)
        scope = Scope(run.scope_kind, run.scope_id)
        access.authorize(principal, scope, self.world.communities)
        if run.state != "draft":
            raise NotADraft(run_id, run.state)
        return run, scope

    async def edit_draft(
        self, principal: Principal, run_id: str, edits: Sequence[tuple[str, str, str]]
    ) -> RunRecord:
        """Apply (task, member, "pin" | "remove") edits in order and plan the draft again."""
        if len(edits) > MOST_EDITS:
            raise InvalidArgument(FieldViolation("edits", f"at most {MOST_EDITS} at once"))
        run, scope = await self._draft(principal, run_id)
        for k, (_task_id, member_id, action) in enumerate(edits):
            if action == PIN and not access.sees_exactly(
                principal, self.world.members.get(member_id)
            ):
                # An unknown member and one outside the caller's scope are refused alike.
                raise InvalidArgument(
                    FieldViolation(f"edits[{k}].member_id", "is not a member you may plan")
                )
        changes = await self.store.draft_edits(run_id)
        for task_id, member_id, action in edits:
            changes[(task_id, member_id)] = action
        before = {(a.task_id, a.member_id) for a in await self.store.planned(run_id, -1, 100_000)}

        # A re-plan holds a worker thread as a run does: within the same cap.
        if self.running >= self.settings.max_concurrent_runs:
            raise TooManyRuns(self.settings.max_concurrent_runs, self.settings.run_retry_after_s)
        self.running += 1
        try:
            return await self._replan(principal, run, scope, edits, changes, before)
        finally:
            self.running -= 1

    async def _replan(
        self,
        principal: Principal,
        run: RunRecord,
        scope: Scope,
        edits: Sequence[tuple[str, str, str]],
        changes: dict[tuple[str, str], str],
        before: set[tuple[str, str]],
    ) -> RunRecord:
        run_id = run.id
        pins = frozenset(key for key, action in changes.items() if action == PIN)
        removed = frozenset(key for key, action in changes.items() if action == REMOVE)
        weights, params = runs.asked(run, self.settings.overbook_min_headcount)
        t = time.perf_counter()
        now = self.clock()
        instance = self.world.instance(scope, now, weights, params)
        instance = replace(
            instance, excluded=instance.excluded | removed, pinned=pins, kept=frozenset(before)
        )
        invalid = self.world.invalid_tasks(scope, now)
        load_s = time.perf_counter() - t
        done = await asyncio.to_thread(plan, instance)
        for k, (task_id, member_id, action) in enumerate(edits):
            if action == PIN and (task_id, member_id) not in done.pinned:
                raise InvalidArgument(
                    FieldViolation(
                        f"edits[{k}]",
                        "the member cannot take this task now (out of reach, without the skills,"
                        " the time or the hours, or it clashes with another pin)",
                    )
                )
        result = done.result
        after = {(a.task_id, a.member_id) for a in result.assignments}
        figures = runs.figures(
            result,
            done.fcfs,
            runs.Timings(load_s, done.candidates_s, done.solve_s),
            weights,
            params,
            invalid_tasks=len(invalid),
            outside_members=runs.outside_members(scope, instance),
            public_distances=[
                self.world.public_distance(a.task_id, a.member_id) for a in result.assignments
            ],
        )
        figures["changed_pairs"] = len(before ^ after)
        figures["pinned_pairs"] = len(pins)
        unfilled = runs.unfilled(result)
        if not await self.store.replace_draft(
            run_id,
            runs.planned(result, self.world.public_distance, weights, pins),
            unfilled,
            figures,
            changes,
        ):
            raise NotADraft(run_id, "published")
        record = await self.store.get_run(run_id)
        assert record is not None
        return views.shown_run(record, principal)

    async def publish_draft(self, principal: Principal, run_id: str) -> RunRecord:
        """Propose the draft's pairs that can still be proposed; the run is then succeeded."""
        await self._draft(principal, run_id)
        now = self.clock()
        rows = await self.store.planned(run_id, -1, 100_000)
        taken: dict[str, int] = {}
        proposals = []
        for a in rows:
            t = self.world.tasks.get(a.task_id)
            m = self.world.members.get(a.member_id)
            if t is None or m is None or not eligible(m):
                continue
            # The place taken meanwhile, or the member refused it or holds it already.
            if taken.get(a.task_id, 0) >= self.world.open_places(t, now) + _overbooking(t):
                continue
            if (a.task_id, a.member_id) in self.world.excluded([a.task_id]):
                continue
            taken[a.task_id] = taken.get(a.task_id, 0) + 1
            proposals.append(
                events.proposal_made(
                    run_id,
                    a.task_id,
                    a.member_id,
                    int(a.facts.get("rank", 1)),
                    reoffer.planned_reason(self.world, a),
                )
            )
        offered = [(p.task_id, p.member_id) for _subject, p in proposals]
        for task_id, member_id in offered:
            self.world.offer(task_id, member_id)
        try:
            published = await self.store.publish_draft(
                run_id, proposals, principal, len(rows) - len(proposals)
            )
        except BaseException:
            published = False
            raise
        finally:
            if not published:
                for task_id, member_id in offered:
                    self.world.settle(task_id, member_id)
        if not published:
            raise NotADraft(run_id, "published")
        record = await self.store.get_run(run_id)
        assert record is not None
        return views.shown_run(record, principal)


def _overbooking(t: TaskRow) -> int:
    """An event's places may be planned beyond its headcount, within its role's cap (a wish,
    with no slot, never)."""
    return t.overbook_cap if t.slot else 0
