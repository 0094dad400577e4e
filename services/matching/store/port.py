"""What the use cases and the event handlers ask of the matching service's store: one interface,
implemented on PostgreSQL (`postgres.PostgresStore`) and in memory (`memory.MemoryStore`)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, Protocol

from services.common.auth import Principal
from services.matching.domain.rows import AssignmentRow, MemberRow, TaskRow
from services.matching.domain.runs import PlannedAssignment, RunFilter, RunRecord, UnfilledPlace
from services.matching.domain.scope import Scope
from services.matching.domain.world import World
from services.matching.events import Proposal

# The transaction an event is applied in: the consumer's connection for PostgreSQL.
Tx = Any


class MatchingStore(Protocol):
    # -- the read model, written inside an event's transaction -----------------------------------

    def transaction(self) -> AbstractAsyncContextManager[Tx]:
        """A transaction to apply events in (the consumer brings its own)."""
        ...

    async def put_community(self, tx: Tx, community_id: str, street_id: str) -> None: ...

    async def put_member(self, tx: Tx, m: MemberRow, version: datetime) -> None:
        """Keep the member as of `version` (an older version changes nothing); their street is
        their community's, as the read model knows it (`m.street_id` is not read)."""
        ...

    async def put_task(self, tx: Tx, t: TaskRow, version: datetime) -> None:
        """A task first seen is kept whole; later versions change its places taken and status."""
        ...

    async def change_task(self, tx: Tx, t: TaskRow, version: datetime) -> None:
        """Staff changed a task already kept: its place, window and headcount follow (with its
        places taken and status); a task not yet seen, or an older version, changes nothing."""
        ...

    async def put_assignment(self, tx: Tx, a: AssignmentRow, version: datetime) -> None:
        """An assignment first seen is kept whole; later versions change its state and hours."""
        ...

    async def put_standby(self, tx: Tx, task_id: str, member_id: str, joined: datetime) -> None:
        """The member joined the task's standby list (kept once)."""
        ...

    async def drop_standby(self, tx: Tx, task_id: str, member_id: str) -> None:
        """The member left the task's standby list."""
        ...

    async def refuse(self, tx: Tx, task_id: str, member_id: str, reason: str) -> None:
        """Never propose this member for this task again."""
        ...

    async def forget_member(self, tx: Tx, member_id: str) -> None:
        """Remove an erased member's distances from recorded plans (as the member and as an
        alternative) and their words from refusals."""
        ...

    async def answered(self, tx: Tx, task_id: str, member_id: str) -> None:
        """The task service answered for a proposal (an assignment, or a rejection)."""
        ...

    # -- the world in memory ---------------------------------------------------------------------

    async def load(self, world: World) -> None:
        """Fill the world from the read model, as of one moment."""
        ...

    async def refresh(
        self,
        world: World,
        *,
        members: Sequence[str] = (),
        tasks: Sequence[str] = (),
        assignments: Sequence[str] = (),
    ) -> None:
        """Bring these rows of the world up to date with the read model."""
        ...

    # -- runs ------------------------------------------------------------------------------------

    async def start_run(
        self,
        scope: Scope,
        street_id: str,
        dry_run: bool,
        method: str,
        by: str,
        lease_s: float = 30.0,
    ) -> tuple[str | None, str | None]:
        """(the new run, None), or (None, the running run whose scope overlaps this one)."""
        ...

    async def renew(self, run_id: str) -> bool:
        """Renew a running run's lease; False when the store could not be reached."""
        ...

    async def fail_lapsed_runs(self, lease_s: float) -> int:
        """Mark runs whose lease lapsed failed (interrupted); how many."""
        ...

    async def finish_run(
        self,
        run_id: str,
        planned: Sequence[PlannedAssignment],
        unfilled: Sequence[UnfilledPlace],
        figures: dict[str, Any],
        proposals: Sequence[Proposal],
        actor: Principal,
        *,
        draft: bool = False,
    ) -> None:
        """Record the plan, its figures and, at once, its proposals (held until answered); a
        draft is recorded as such, with no proposals."""
        ...

    async def draft_edits(self, run_id: str) -> dict[tuple[str, str], str]:
        """Staff's changes to a draft: (task, member) -> "pin" or "remove"."""
        ...

    async def replace_draft(
        self,
        run_id: str,
        planned: Sequence[PlannedAssignment],
        unfilled: Sequence[UnfilledPlace],
        figures: dict[str, Any],
        edits: dict[tuple[str, str], str],
    ) -> bool:
        """Replace a draft's plan, figures and edits at once; False when it is no longer a
        draft (published meanwhile)."""
        ...

    async def publish_draft(
        self, run_id: str, proposals: Sequence[Proposal], actor: Principal, skipped: int
    ) -> bool:
        """Mark a draft published (succeeded) with its proposals, at once; False when it is no
        longer a draft."""
        ...

    async def set_figure(self, run_id: str, name: str, value: float) -> None: ...

    async def fail_run(self, run_id: str, error: str) -> None: ...

    async def get_run(self, run_id: str) -> RunRecord | None: ...

    async def list_runs(
        self, which: RunFilter, after: tuple[datetime, str] | None, limit: int
    ) -> list[RunRecord]:
        """Runs newest first (by creation, then id), after the key given."""
        ...

    async def planned(self, run_id: str, after: int, limit: int) -> list[PlannedAssignment]:
        """A run's planned assignments in order, past position `after`."""
        ...

    async def unfilled(self, run_id: str, after: int, limit: int) -> list[UnfilledPlace]:
        """A run's empty places in order, past position `after`."""
        ...

    async def propose(self, proposals: Sequence[Proposal]) -> None:
        """Publish proposals made outside a run (re-offers), holding their places."""
        ...
