"""The supervisor of background loops: restarts with growing pauses, state for health, a stop."""

from __future__ import annotations

import asyncio
import time

from services.common.runtime import Supervisor


class Scripted:
    """A worker whose runs follow a script: each entry is seconds to run, then "fail"/"return";
    after the script it runs until stopped."""

    def __init__(self, script: list[tuple[float, str]]) -> None:
        self.script = list(script)
        self.runs = 0
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        self.runs += 1
        if not self.script:
            await self._stopping.wait()
            return
        seconds, end = self.script.pop(0)
        await asyncio.sleep(seconds)
        if end == "fail":
            raise ValueError(f"run {self.runs} failed")

    def stop(self) -> None:
        self._stopping.set()


async def _until(check, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def test_a_loop_that_fails_or_returns_is_restarted_and_its_state_kept() -> None:
    supervisor = Supervisor("test", min_s=0.01, max_s=0.05)
    worker = Scripted([(0, "fail"), (0, "return"), (0, "fail")])
    state = supervisor.start("scripted", worker)
    await _until(lambda: worker.runs == 4 and state.state == "running")
    assert state.restarts == 3
    assert state.last_error == "ValueError: run 3 failed"
    assert state.failing_since is not None
    await supervisor.stop(5.0)
    assert state.state == "stopped"
    assert supervisor.dead() == []


async def test_a_failure_after_a_long_good_run_counts_from_the_failure() -> None:
    supervisor = Supervisor("test", min_s=0.01, max_s=0.05)
    worker = Scripted([(0.3, "fail")])  # ran well for longer than max_s, then failed once
    started = time.monotonic()
    state = supervisor.start("scripted", worker)
    await _until(lambda: worker.runs == 2)
    # Counted from the failure, not from the start of the run 0.3 s before it.
    assert state.failing_since is not None and state.failing_since >= started + 0.3
    await supervisor.stop(5.0)


async def test_a_loop_that_failed_and_then_ran_well_is_no_longer_failing() -> None:
    supervisor = Supervisor("test", min_s=0.01, max_s=0.05)
    worker = Scripted([(0, "fail")])
    state = supervisor.start("scripted", worker)
    await _until(lambda: worker.runs == 2 and state.state == "running")
    await asyncio.sleep(0.1)  # longer than max_s: the run counts as stable
    supervisor.mark_stable()
    assert state.failing_since is None
    await supervisor.stop(5.0)


async def test_stop_does_not_restart_a_loop_that_fails_while_stopping() -> None:
    class FailsOnStop:
        runs = 0

        def __init__(self) -> None:
            self._stopping = asyncio.Event()

        async def run(self) -> None:
            self.runs += 1
            await self._stopping.wait()
            raise RuntimeError("closing")

        def stop(self) -> None:
            self._stopping.set()

    supervisor = Supervisor("test", min_s=0.01, max_s=0.05)
    worker = FailsOnStop()
    state = supervisor.start("fails on stop", worker)
    await _until(lambda: worker.runs == 1)
    await supervisor.stop(5.0)
    assert (worker.runs, state.restarts, state.state) == (1, 0, "stopped")
