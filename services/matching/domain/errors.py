"""The matching service's domain errors and reason codes (the interceptor maps each to its
status code)."""

from __future__ import annotations

from services.common.errors import Aborted, FailedPrecondition, ResourceExhausted

# Reason codes callers act on.
RUN_IN_PROGRESS = "RUN_IN_PROGRESS"
TOO_MANY_RUNS = "TOO_MANY_RUNS"
NOT_A_DRAFT = "NOT_A_DRAFT"
# Why a task's places stay empty when the planner cannot take the task as it is.
INVALID_TASK = "invalid_task"


class TooManyRuns(ResourceExhausted):
    """The process plans as many runs as it may at once: retry after the delay given."""

    def __init__(self, limit: int, retry_after_s: float) -> None:
        super().__init__(
            f"{limit} matching runs are in progress; retry later",
            TOO_MANY_RUNS,
            retry_after_s=retry_after_s,
        )


class RunInProgress(Aborted):
    """Runs whose scopes overlap would propose the same places: refused, to retry."""

    def __init__(self, clash: str | None) -> None:
        super().__init__(
            f"a run whose scope overlaps this one is in progress: {clash}",
            RUN_IN_PROGRESS,
            run_id=clash or "",
        )


class NotADraft(FailedPrecondition):
    """Only a draft is edited or published: this run proposed its pairs already, or never will."""

    def __init__(self, run_id: str, state: str) -> None:
        super().__init__(f"run {run_id} is {state}, not a draft", NOT_A_DRAFT, run_id=run_id)
