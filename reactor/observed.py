"""What the reactor observes beyond its store and dispatcher: activity timing, dead letters.

Dispatch-to-result time of activities, for ``ee_activity_result_seconds``.

The reactor notes when it sends each activity task (by event and attempt) and,
when that attempt's result comes in, observes the time in between: queueing at
the workers, the run and the result's way back. Kept in memory only (nothing
more on the hot path than a dict entry): the attempts in flight when a reactor
restarts are not measured. Entries of attempts that never report (timed out,
cancelled) are dropped oldest first beyond ``limit``.

:class:`ObservedDispatcher` and :class:`ObservedStore` are the reactor's dispatcher
and store with the two notes added (tasks pass through ``Dispatcher.activities``
on their way out, each result through ``Store.result_args`` on its way in) and
a log line for each dead letter recorded, wherever it comes from (results,
cancels, heartbeats, executors' reports): subject and reason, never the data.
"""

from __future__ import annotations

import time
from typing import Any

import redis.asyncio as aioredis
import structlog
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from reactor.dispatch import Dispatcher
from reactor.scripts import DEFAULT_HISTORY_MAX
from reactor.store import Store
from shared import metrics
from shared.messages import ActivityTask
from shared.names import Keys

__all__ = ["ActivityClock", "ObservedDispatcher", "ObservedStore"]

log = structlog.get_logger("ee.reactor")


class ActivityClock:
    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self._sent: dict[tuple[str, int], tuple[float, str]] = {}

    def dispatched(self, tasks: list[ActivityTask]) -> None:
        now = time.monotonic()
        for task in tasks:
            key = (task.event_id, task.attempt)
            self._sent.pop(key, None)  # a re-dispatch counts from its last send
            self._sent[key] = (now, task.activity)
        while len(self._sent) > self.limit:
            del self._sent[next(iter(self._sent))]

    def arrived(self, event_id: str, attempt: int) -> None:
        sent = self._sent.pop((event_id, attempt), None)
        if sent is not None:
            metrics.ACTIVITY_RESULT_SECONDS.labels(activity=sent[1]).observe(time.monotonic() - sent[0])

    def __len__(self) -> int:
        return len(self._sent)


class ObservedDispatcher(Dispatcher):
    def __init__(self, nc: NATS, js: JetStreamContext, store: Store, clock: ActivityClock) -> None:
        super().__init__(nc, js, store)
        self.clock = clock

    async def activities(self, tasks: list[ActivityTask]) -> None:
        self.clock.dispatched(tasks)
        await super().activities(tasks)


class ObservedStore(Store):
    def __init__(self, redis: aioredis.Redis, keys: Keys, wake_lease_s: float, strand_after: int,
                 clock: ActivityClock, history_max: int = DEFAULT_HISTORY_MAX) -> None:
        super().__init__(redis, keys, wake_lease_s, strand_after, history_max)
        self.clock = clock

    def result_args(self, event_id: str, attempt: int, ok: bool, result: bytes, error: str,
                    now: float) -> tuple[Any, ...]:
        self.clock.arrived(event_id, attempt)
        return super().result_args(event_id, attempt, ok, result, error, now)

    async def deadletter(self, subject: str, reason: str, data: bytes) -> None:
        log.warning("dead letter", subject=subject, reason=reason, size=len(data))
        await super().deadletter(subject, reason, data)
