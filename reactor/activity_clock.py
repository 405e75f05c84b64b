"""Dispatch-to-result time of activities, for ``ee_activity_result_seconds``.

The dispatcher notes when it sends each activity task (by event and attempt) and,
when that attempt's result comes in, the results loop observes the time in
between: queueing at the workers, the run and the result's way back. Kept in
memory only (nothing more on the hot path than a dict entry): the attempts in
flight when a reactor restarts are not measured. Entries of attempts that never
report (timed out, cancelled) are dropped oldest first beyond ``limit``.
"""

from __future__ import annotations

import time

from shared import metrics
from shared.messages import ActivityTask

__all__ = ["ActivityClock"]


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
