"""Re-offers: a place a proposal freed goes at once to the next best eligible member, scored
with the weights and reach of the run that proposed it (not the defaults)."""

from __future__ import annotations

import logging

from services.common.clock import Clock
from services.common.settings import MatchingSettings
from services.matching import events
from services.matching.domain import reoffer, runs
from services.matching.domain.world import World
from services.matching.solver.model import Weights
from services.matching.store import MatchingStore

log = logging.getLogger(__name__)
# Runs whose weights are kept at hand for their re-offers.
ASKED_KEPT = 1000


class ReofferUseCases:
    """Mixed into the matching service's use cases (`Matching`), whose part this is."""

    store: MatchingStore
    world: World
    settings: MatchingSettings
    clock: Clock
    reoffers: int
    _asked: dict[str, tuple[Weights, float]]

    async def _run_asked(self, run_id: str) -> tuple[Weights, float]:
        """The weights and reach a run planned with (the defaults for no run)."""
        if run_id not in self._asked:
            run = await self.store.get_run(run_id) if run_id else None
            if run is None:
                return Weights(), reoffer.REOFFER_REACH_M
            weights, params = runs.asked(run, self.settings.overbook_min_headcount)
            if len(self._asked) >= ASKED_KEPT:  # recent runs are all re-offers need
                self._asked.pop(next(iter(self._asked)))
            self._asked[run_id] = (weights, params.max_distance_m)
        return self._asked[run_id]

    async def reoffer(self, task_id: str, run_id: str) -> int:
        """Offer a task's free places to the next best eligible members, at once, scored as
        the run that proposed them scored (its weights and reach)."""
        weights, reach = await self._run_asked(run_id)
        chosen = reoffer.choose(self.world, task_id, self.clock(), weights, reach)
        if not chosen:
            return 0
        for member_id in chosen:
            self.world.offer(task_id, member_id)
        try:
            await self.store.propose(
                [
                    events.proposal_made(
                        run_id,
                        task_id,
                        member_id,
                        rank,
                        reoffer.reoffer_reason(self.world, task_id, member_id),
                        reoffer=True,
                    )
                    for rank, member_id in enumerate(chosen, start=1)
                ]
            )
        except BaseException:
            for member_id in chosen:
                self.world.settle(task_id, member_id)
            raise
        self.reoffers += len(chosen)
        log.info("re-offered %d place(s) of task %s", len(chosen), task_id)
        return len(chosen)
