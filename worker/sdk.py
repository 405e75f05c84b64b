"""The SDK bots use to serve activities over JetStream.

Register functions by activity name, then run: the worker pulls tasks from one
durable consumer per activity (shared by every worker of that activity), runs
them with bounded concurrency, keeps long ones alive with in-progress acks,
publishes each result to ``activity.response`` and acks the task only after
JetStream has stored the result.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import socket
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

import anyio
import msgspec
import structlog
from anyio.abc import TaskGroup, TaskStatus
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.errors import FetchTimeoutError

from shared import metrics, names
from shared.config import Settings, redact_url
from shared.connect import connect_nats
from shared.errors import InvalidMessage
from shared.messages import ActivityResult, ActivityTask, BotHeartbeat, Codec, encode
from shared.ops_http import serve_ops
from shared.replies import ReplyInbox
from shared.streams import consumer_config, ensure_streams

__all__ = ["Activity", "Worker", "current_task"]

log = structlog.get_logger("ee.worker")

Activity = Callable[[dict[str, Any]], Awaitable[Any]] | Callable[[dict[str, Any]], Any]
_tasks = Codec(ActivityTask, "activity.execute")
RECENT_RESULTS = 10_000

# The running task's (event id, attempt), for activities that need to know which attempt runs.
current_task: ContextVar[tuple[str, int]] = ContextVar("current_task", default=("", 0))
_json = msgspec.json.Encoder()


class Worker:
    def __init__(self, settings: Settings, *, name: str | None = None, concurrency: int = 64,
                 bot: str | None = None, pool: str | None = None, bot_lease_s: float = 15.0) -> None:
        if (bot is None) != (pool is None):
            raise ValueError("a bot needs both --bot and --pool")
        self.settings = settings
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self.bot = bot
        self.pool = pool
        self.bot_lease_s = bot_lease_s
        self.limiter = anyio.CapacityLimiter(concurrency)
        self.activities: dict[str, Activity] = {}
        self._stopping = anyio.Event()
        self._recent: OrderedDict[tuple[str, int], ActivityResult] = OrderedDict()
        self._running: set[tuple[str, int]] = set()
        self._inflight: dict[int, tuple[Msg, float]] = {}
        self._nc: NATS | None = None

    def _remember(self, key: tuple[str, int], result: ActivityResult) -> None:
        self._recent[key] = result
        self._recent.move_to_end(key)
        while len(self._recent) > RECENT_RESULTS:
            self._recent.popitem(last=False)

    def register(self, activity: str, fn: Activity) -> None:
        if activity.startswith("bot.") or any(c in activity for c in " *>"):
            raise ValueError(f"bad activity name {activity!r}")
        self.activities[activity] = fn

    def activity(self, name: str) -> Callable[[Activity], Activity]:
        def decorate(fn: Activity) -> Activity:
            self.register(name, fn)
            return fn

        return decorate

    def stop(self) -> None:
        """Stop pulling; running activities finish and report (graceful)."""
        self._stopping.set()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        nc = self._nc = await connect_nats(self.settings, f"ee-worker {self.name}")
        self._inbox = ReplyInbox(nc)
        js = nc.jetstream()
        await ensure_streams(js, self.settings.max_payload_bytes)
        try:
            async with anyio.create_task_group() as running:
                subs = []
                for activity in self.activities:
                    subs.append(await self._subscribe(js, names.activity_consumer(activity),
                                                      names.activity_subject(activity)))
                if self.bot is not None:
                    token = names.activity_token(self.bot)
                    subs.append(await self._subscribe(js, f"ee_bot_{token}",
                                                      f"{names.ACTIVITY_EXECUTE_PREFIX}bot.{self.bot}.>"))
                async with anyio.create_task_group() as pulling:
                    for sub in subs:
                        pulling.start_soon(self._pull, sub, running, js)
                    if self.bot is not None:
                        pulling.start_soon(self._heartbeats, nc)
                    running.start_soon(self._keep_alive)
                    if self.settings.ops_port:
                        async def nats_ok() -> bool:
                            return bool(nc.is_connected)

                        await pulling.start(serve_ops, self.settings.ops_port, {"nats": nats_ok})
                    log.info("worker ready", worker=self.name, nats=redact_url(self.settings.nats_url),
                             activities=sorted(self.activities), bot=self.bot, pool=self.pool)
                    task_status.started()
                    await self._stopping.wait()
                    pulling.cancel_scope.cancel()
                while self.limiter.borrowed_tokens:  # noqa: ASYNC110 - the running activities report first
                    await anyio.sleep(0.05)
                running.cancel_scope.cancel()
                # Leaving `running` waits for the activities in hand to finish and report.
        finally:
            with anyio.CancelScope(shield=True):
                if self.bot is not None:
                    await self._beat(nc, stopping=True)
                # Bounded: a subscription whose handler was cancelled can keep drain waiting.
                with anyio.move_on_after(3):
                    await nc.drain()
                if not nc.is_closed:
                    await nc.close()

    async def _subscribe(self, js: JetStreamContext, durable: str, subject: str) -> Any:
        config = consumer_config(durable, subject, ack_wait=self.settings.activity_ack_wait_s, max_deliver=10,
                                 max_ack_pending=1000)
        return await js.pull_subscribe(subject, durable=durable, config=config)

    async def _pull(self, sub: Any, running: TaskGroup, js: JetStreamContext) -> None:
        while True:
            free = int(self.limiter.available_tokens)
            if free <= 0:
                await anyio.sleep(0.005)
                continue
            try:
                msgs = await sub.fetch(batch=min(free, 64), timeout=1.0)
            except (FetchTimeoutError, NatsTimeout, TimeoutError):
                continue
            except Exception as exc:
                log.warning("fetching tasks failed", error=repr(exc))
                await anyio.sleep(0.5)
                continue
            for msg in msgs:
                token = object()
                await self.limiter.acquire_on_behalf_of(token)
                running.start_soon(self._serve, msg, js, token)

    async def _serve(self, msg: Msg, js: JetStreamContext, token: object) -> None:
        try:
            try:
                task = _tasks.decode(msg.data)
            except InvalidMessage as exc:
                log.warning("refused task", error=repr(exc))
                await msg.term()
                return
            key = (task.event_id, task.attempt)
            if key in self._running:
                # Redelivered while this worker still runs it (NATS restarted, say): the
                # running copy reports and acks; running it twice is what we avoid.
                return
            done = self._recent.get(key)
            fn = self.activities.get(task.activity)
            if done is not None:
                # A redelivery of a task this worker finished (its ack was lost, say in a NATS
                # restart): report the same result again instead of running it twice.
                result = done
            elif fn is None:
                result = ActivityResult(event_id=task.event_id, attempt=task.attempt, ok=False,
                                        error=f"worker {self.name} does not serve activity {task.activity!r}",
                                        worker=self.name)
            else:
                self._running.add(key)
                try:
                    result = await self._run(fn, task, msg)
                finally:
                    self._running.discard(key)
            self._remember(key, result)
            data = encode(result)
            if len(data) > self.settings.max_payload_bytes:
                data = encode(ActivityResult(event_id=task.event_id, attempt=task.attempt, ok=False,
                                             error=f"output too large ({len(data)} bytes)", worker=self.name))
            with anyio.CancelScope(shield=True):
                await self._publish_result(js, data)
                await msg.ack()
        except Exception as exc:
            log.warning("result not published; the task will be redelivered", error=repr(exc))
        finally:
            self.limiter.release_on_behalf_of(token)

    async def _publish_result(self, js: JetStreamContext, data: bytes, patience: float = 60.0) -> None:
        """Publish a result, riding out a NATS restart: a result is the costliest thing to lose."""
        delay = 0.1
        deadline = anyio.current_time() + patience
        while True:
            try:
                await self._inbox.js_publish(names.ACTIVITY_RESPONSE, data)
                return
            except Exception:
                if anyio.current_time() > deadline:
                    raise
                await anyio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _keep_alive(self) -> None:
        """Tell JetStream that long activities are still running, so it does not redeliver them.

        One loop for all running tasks, rather than a timer per task.
        """
        period = max(self.settings.activity_ack_wait_s / 3, 0.5)
        while True:
            await anyio.sleep(period)
            now = anyio.current_time()
            for msg, since in list(self._inflight.values()):
                if now - since >= period:
                    with contextlib.suppress(Exception):
                        await msg.in_progress()

    async def _call(self, fn: Activity, task: ActivityTask) -> Any:
        current_task.set((task.event_id, task.attempt))
        if inspect.iscoroutinefunction(fn):
            return await fn(task.input)
        return await anyio.to_thread.run_sync(fn, task.input)

    async def _run(self, fn: Activity, task: ActivityTask, msg: Msg) -> ActivityResult:
        started = anyio.current_time()
        self._inflight[id(msg)] = (msg, started)
        error: str | None = None
        output: Any = None
        try:
            if task.timeout_s is None:
                output = await self._call(fn, task)
            else:
                with anyio.move_on_after(task.timeout_s) as scope:
                    output = await self._call(fn, task)
                if scope.cancelled_caught:
                    error = f"activity timed out after {task.timeout_s} s (attempt {task.attempt})"
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        finally:
            del self._inflight[id(msg)]
        metrics.ACTIVITY_SECONDS.labels(activity=task.activity).observe(anyio.current_time() - started)
        if error is not None:
            return ActivityResult(event_id=task.event_id, attempt=task.attempt, ok=False, error=error,
                                  worker=self.name)
        return ActivityResult(event_id=task.event_id, attempt=task.attempt, ok=True, output=output,
                              worker=self.name)

    async def _beat(self, nc: NATS, stopping: bool = False) -> None:
        assert self.bot is not None and self.pool is not None
        beat = BotHeartbeat(bot=self.bot, pool=self.pool, lease_s=self.bot_lease_s, worker=self.name,
                            stopping=stopping)
        try:
            await nc.publish(names.BOTS_HEARTBEAT, encode(beat))
            await nc.flush(timeout=2)
        except Exception as exc:
            log.warning("heartbeat not sent", error=repr(exc))

    async def _heartbeats(self, nc: NATS) -> None:
        while True:
            await self._beat(nc)
            await anyio.sleep(self.bot_lease_s / 3)
