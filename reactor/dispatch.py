"""Sending out: activity tasks to workers (JetStream) and wakes to executors (core NATS)."""

from __future__ import annotations

import asyncio

import anyio
import msgspec
import structlog
from anyio.abc import TaskStatus
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from reactor.activity_clock import ActivityClock
from reactor.result_tokens import AttemptTokens
from reactor.store import Store, WakeData
from shared import metrics, names
from shared.failpoints import failpoint
from shared.messages import ActivityTask, encode
from shared.replies import ReplyInbox

__all__ = ["Dispatcher"]

log = structlog.get_logger("ee.reactor.dispatch")
_input = msgspec.json.Decoder(dict[str, object])


class Dispatcher:
    """Publishes activity tasks from a queue, in batches, off the park's reply path.

    A parked activity is in the dispatch set from the park script on; it leaves
    it only once JetStream acknowledged its task, so a crash anywhere in between
    is mended by the sweep (``reactor.loops.dispatch_sweep``).
    """

    def __init__(self, nc: NATS, js: JetStreamContext, store: Store, clock: ActivityClock,
                 tokens: AttemptTokens) -> None:
        self.nc = nc
        self.clock = clock
        self.tokens = tokens
        self.js = js
        self.store = store
        self._inbox = ReplyInbox(nc)
        self._send, self._receive = anyio.create_memory_object_stream[ActivityTask](max_buffer_size=100_000)

    def enqueue(self, tasks: list[ActivityTask]) -> None:
        for task in tasks:
            try:
                self._send.send_nowait(task)
            except anyio.WouldBlock:
                # The sweep sends it later: it is still in the dispatch set.
                log.warning("dispatch queue full; leaving the task to the sweep", event_id=task.event_id)

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        async with self._receive:
            async for first in self._receive:
                batch = [first]
                while len(batch) < 512:
                    try:
                        batch.append(self._receive.receive_nowait())
                    except anyio.WouldBlock:
                        break
                try:
                    await self.activities(batch)
                except Exception as exc:
                    log.warning("dispatch failed; the sweep will retry", error=repr(exc))

    async def activities(self, tasks: list[ActivityTask]) -> None:
        """Publish tasks, each deduplicated by event and attempt, then mark them dispatched."""
        if not tasks:
            return
        for task in tasks:
            task.token = self.tokens.token(task.event_id, task.attempt)
        self.clock.dispatched(tasks)
        results = await asyncio.gather(*(self._publish(task) for task in tasks), return_exceptions=True)
        done = []
        for task, result in zip(tasks, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("dispatch not acknowledged", event_id=task.event_id, error=repr(result))
            else:
                done.append(task.event_id)
        if done:
            # A crash here leaves acknowledged tasks in the dispatch set: the sweep publishes
            # them again under the same Nats-Msg-Id, which JetStream drops as a duplicate.
            await failpoint("dispatch-published")
            await self.store.redis.zrem(self.store.keys.dispatch, *done)

    async def _publish(self, task: ActivityTask) -> None:
        subject = (names.bot_activity_subject(task.bot, task.activity) if task.bot
                   else names.activity_subject(task.activity))
        await self._inbox.js_publish(subject, encode(task), {"Nats-Msg-Id": f"{task.event_id}:{task.attempt}"})

    async def redispatch(self, event_ids: list[str]) -> int:
        """Dispatch events again from what Redis holds (after a crash or a retry backoff)."""
        tasks = []
        for event_id in event_ids:
            job, activity, attempt, input_json, timeout_s, bot, status, phase = await self.store.event_fields(
                event_id, "job", "activity", "attempt", "input", "timeout_s", "bot", "status", "phase")
            if status != "parked" or phase != "running" or not activity or not job:
                await self.store.redis.zrem(self.store.keys.dispatch, event_id)
                continue
            tasks.append(ActivityTask(
                event_id=event_id, attempt=int(attempt or 1), job_id=job, activity=activity,
                input=_input.decode(input_json or "{}"),
                timeout_s=float(timeout_s) if timeout_s else None, bot=bot or None))
        await self.activities(tasks)
        return len(tasks)

    async def wakes(self, wakes: list[WakeData]) -> None:
        for wake in wakes:
            await self.nc.publish(names.EXECUTOR_WAKE, wake.encode())
        if wakes:
            metrics.WAKES_OFFERED.inc(len(wakes))
