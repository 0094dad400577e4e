"""The standby list's turn, a use case beside `Matching.reoffer`: a freed place is offered to
the members waiting on the task's standby list before anyone else."""

from __future__ import annotations

import logging

from services.matching import events
from services.matching.domain import standby
from services.matching.service import Matching

log = logging.getLogger(__name__)


async def offer_standby(matching: Matching, task_id: str) -> int:
    """Offer the task's free places to its standby list, best first; how many were offered
    (0: nobody waiting could take one, and the normal re-offer may follow)."""
    world = matching.world
    chosen = standby.choose_standby(world, task_id, matching.clock())
    if not chosen:
        return 0
    for member_id in chosen:
        world.offer(task_id, member_id)
    try:
        await matching.store.propose(
            [
                events.proposal_made(
                    "", task_id, member_id, rank, standby.standby_reason(), standby=True
                )
                for rank, member_id in enumerate(chosen, start=1)
            ]
        )
    except BaseException:
        for member_id in chosen:
            world.settle(task_id, member_id)
        raise
    matching.reoffers += len(chosen)
    log.info("offered %d freed place(s) of task %s to its standby list", len(chosen), task_id)
    return len(chosen)
