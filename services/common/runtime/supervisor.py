"""Supervised background loops: each restarted with backoff whenever it returns or raises
before the stop, its state kept for health."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from services.common import logs

log = logging.getLogger(__name__)


class Worker(Protocol):
    """Something that runs in the background until stopped: a consumer, a periodic job."""

    async def run(self) -> None: ...

    def stop(self) -> None: ...


class Periodic:
    """Runs `job` every `interval_s` until stopped; a failing run is logged and retried."""

    def __init__(self, name: str, job: Callable[[], Awaitable[object]], interval_s: float) -> None:
        self.name = name
        self._job = job
        self._interval_s = interval_s
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self._job()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception(
                    "periodic job %s failed; retrying in %.1fs", self.name, self._interval_s
                )
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval_s):
                    await self._stopping.wait()

    def stop(self) -> None:
        self._stopping.set()


@dataclass
class LoopState:
    """What health shows of one supervised loop."""

    name: str
    state: str = "starting"  # running | restarting | stopped
    since: float = field(default_factory=time.time)  # wall clock, for people reading it
    restarts: int = 0
    last_error: str | None = None
    # Monotonic time of the first failure not yet followed by a stable run.
    failing_since: float | None = None

    def failing_for(self, now: float) -> float:
        return 0.0 if self.failing_since is None else now - self.failing_since

    def public(self) -> dict[str, object]:
        return {
            "name": self.name,
            "state": self.state,
            "since": round(self.since, 3),
            "restarts": self.restarts,
            "last_error": self.last_error,
        }


class Supervisor:
    """Runs background loops and restarts any whose `run()` returns or raises before `stop()`.

    Restarts wait with exponential backoff (min_s doubling to max_s, back to min_s after a run
    that lasted longer than max_s); each is logged and counted in the loop's `LoopState`.
    """

    def __init__(self, service: str, *, min_s: float = 0.5, max_s: float = 30.0) -> None:
        self._service = service
        self._min_s = min_s
        self._max_s = max(max_s, min_s)
        self._stopping = asyncio.Event()
        self._loops: list[tuple[LoopState, Worker, asyncio.Task[None]]] = []

    @property
    def states(self) -> list[LoopState]:
        return [state for state, _, _ in self._loops]

    def start(self, name: str, worker: Worker) -> LoopState:
        state = LoopState(name)
        task = asyncio.ensure_future(self._supervise(state, worker))
        task.set_name(f"{self._service} {name}")
        self._loops.append((state, worker, task))
        return state

    def dead(self) -> list[str]:
        """Loops whose supervision itself ended before the stop: nothing restarts them."""
        if self._stopping.is_set():
            return []
        return [state.name for state, _, task in self._loops if task.done()]

    async def _supervise(self, state: LoopState, worker: Worker) -> None:
        logs.bind(service=self._service)  # this task's lines name their service
        backoff = self._min_s
        while not self._stopping.is_set():
            started = time.monotonic()
            state.state, state.since = "running", time.time()
            failure: BaseException | None = None
            try:
                await worker.run()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 (any failure of a loop is restarted)
                failure = e
            if self._stopping.is_set():
                if failure is not None:
                    log.warning(
                        "loop %r of %s failed while stopping: %r",
                        state.name,
                        self._service,
                        failure,
                    )
                break
            now = time.monotonic()
            if now - started > self._max_s:  # it had been running well: start over gently
                backoff, state.failing_since = self._min_s, None
            if failure is None:
                state.last_error = "returned before the stop"
            else:
                state.last_error = f"{type(failure).__name__}: {failure}"[:300]
            log.error(
                "loop %r of %s: %s; restarting in %.1fs",
                state.name,
                self._service,
                state.last_error,
                backoff,
                exc_info=failure,
            )
            state.restarts += 1
            state.state, state.since = "restarting", time.time()
            if state.failing_since is None:
                state.failing_since = now
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(backoff):
                    await self._stopping.wait()
            backoff = min(backoff * 2, self._max_s)
        state.state, state.since = "stopped", time.time()

    def mark_stable(self) -> None:
        """Forget the failures of loops that have been running since long enough."""
        for state in self.states:
            if (
                state.state == "running"
                and state.failing_since is not None
                and time.time() - state.since > self._max_s
            ):
                state.failing_since = None

    async def stop(self, timeout: float) -> None:
        """Ask every loop to stop, wait up to `timeout`, then cancel what is left."""
        self._stopping.set()
        for _, worker, _ in self._loops:
            worker.stop()
        tasks = [task for _, _, task in self._loops]
        if not tasks:
            return
        _done, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=1.0)


class Loop:
    """A Worker made of a coroutine function and a stop event (the health loop)."""

    def __init__(self, body: Callable[[asyncio.Event], Awaitable[None]]) -> None:
        self._body = body
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        await self._body(self._stopping)

    def stop(self) -> None:
        self._stopping.set()
