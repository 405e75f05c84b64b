"""A cheap, owned set of short tasks for per-message work on the hot path.

Every service answers one message with one short task (a reactor request, an
executor wake, a worker's activity). ``TaskGroup.start_soon`` builds a cancel
scope and a task handle per task: about 100 µs a task here against about 10 µs
for a bare asyncio task, and 15-20 % of each service's CPU under load (py-spy,
docs/performance.md). A :class:`TaskSet` keeps the ownership a task group
gives: it is entered as an async context manager, every task it spawned is
cancelled and awaited when it exits, and a task that fails is logged rather than
lost. Unlike a task group, one failed task does not stop the others: each task
is an independent message and handles its own errors.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from types import TracebackType
from typing import Any

import anyio
import structlog

__all__ = ["TaskSet"]

log = structlog.get_logger("ee.tasks")


class TaskSet:
    def __init__(self, name: str) -> None:
        self.name = name
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    def __len__(self) -> int:
        return len(self._tasks)

    async def __aenter__(self) -> TaskSet:
        self._loop = asyncio.get_running_loop()
        return self

    def spawn(self, coro: Coroutine[Any, Any, None]) -> bool:
        """Run ``coro`` as a task of this set. False (and ``coro`` closed, never run) when the set
        is not running: a message that arrives during shutdown is left to its redelivery."""
        if self._loop is None or self._closed:
            coro.close()
            return False
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return True

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("task failed", task_set=self.name, error=repr(exc), exc_info=exc)

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self._closed = True
        for task in self._tasks:
            task.cancel()
        # Shielded: the owner may be exiting because it was cancelled, and the tasks'
        # own cleanup (hand a task back, release a slot) must still run to its end.
        with anyio.CancelScope(shield=True):
            while self._tasks:
                await asyncio.wait(set(self._tasks))
