"""The SDK bots use to serve activities over JetStream.

Register functions by activity name, then run: the worker pulls tasks from one
durable consumer per activity (shared by every worker of that activity), runs
them with bounded concurrency, keeps long ones alive with in-progress acks,
publishes each result to ``activity.response`` and acks the task only after
JetStream has stored the result. A bot also pulls the tasks addressed to it
alone and announces itself to its pool with heartbeats.

An attempt runs at most once. Before running one, the worker claims it: it
publishes to ``activity.claim.<digest of event and attempt>`` in ``EE_CLAIMS``
with ``Nats-Expected-Last-Subject-Sequence: 0``, which JetStream stores for the
first claimant only. A task whose attempt was claimed by another worker is not
run: delivered again (JetStream's delivery count above one), it was held by a
worker that stopped mid-run, and it is reported failed ("attempt N was delivered
again: ...") so the job's retry policy decides whether a new attempt (a new
task) runs; delivered for the first time, it is a second copy of a task whose
first copy another worker runs and reports, and it is acked without a result.
A delivery lost on its way (NATS restarted, say) left no claim, so the next one
runs. A worker pulls only as many tasks as it has free slots, so every task it
receives starts at once; on stop it finishes the pull in flight, runs what it
received within the shutdown grace, and reports an activity the grace cuts off
as failed.
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from typing import Literal, Self

import anyio
import structlog
from anyio.abc import TaskGroup, TaskStatus
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from shared import metrics, names
from shared.build import build_id
from shared.config import Settings, redact_url
from shared.connect import close_nats, connect_nats, nats_open, watch_nats
from shared.consume import pull, pull_consumer
from shared.errors import InvalidMessage
from shared.messages import ActivityResult, ActivityTask, Codec
from shared.ops_http import serve_ops
from shared.replies import WRONG_LAST_SEQUENCE, JetStreamPublishError, ReplyInbox
from shared.retry import retrying
from worker.execution import Activity, encode_result, failure, run_activity
from worker.heartbeat import BotIdentity, Holdings, beat, heartbeats
from worker.presence import Presence
from worker.settings import WorkerSettings
from worker.streams import ensure_streams, task_consumer_config
from worker.subjects import (
    bot_consumer,
    bot_filter_subject,
    cancel_event_id,
    cancel_filter_subject,
    check_activity_name,
)

__all__ = ["Worker"]

log = structlog.get_logger("ee.worker")

_tasks = Codec(ActivityTask, "activity.execute")

FETCH_BATCH = 64  # most tasks taken by one pull
PULL_WAIT_S = 1.0  # how long one pull lingers on the server when no task is waiting
PULL_RETRY_S = 0.5  # pause after a failed pull (NATS down, consumer gone)
RESULT_PATIENCE_S = 60.0  # how long a result is retried through a NATS outage
RECENT_RESULTS = 10_000  # finished attempts remembered, to answer a redelivery without a second run
CUT_OFF_REPORT_S = 5.0  # how long a stopping worker tries to report an activity its grace cut off
RUNNING_HERE: Literal["running here"] = "running here"
DUPLICATE: Literal["duplicate"] = "duplicate"

_Key = tuple[str, int]  # (event id, attempt)
Outcome = ActivityResult | Literal["running here", "duplicate"]


class Worker(anyio.AsyncContextManagerMixin):
    """Serves registered activities until :meth:`stop` (or the ``async with`` block ends).

    ``await tg.start(worker.run)`` returns once every consumer exists;
    ``async with worker:`` does the same and stops gracefully on exit.
    """

    def __init__(self, settings: WorkerSettings | Settings | None = None, *, name: str | None = None,
                 concurrency: int | None = None, bot: str | None = None, pool: str | None = None,
                 bot_lease_s: float | None = None) -> None:
        """``settings``: a :class:`WorkerSettings`, the engine's ``Settings`` (its NATS part is
        used), or None to load them (arguments, env, stack file: ``WorkerSettings.load``).
        ``concurrency`` and ``bot_lease_s`` override the settings' values."""
        if (bot is None) != (pool is None):
            raise ValueError("a bot needs both bot and pool (--bot and --pool)")
        if concurrency is not None and concurrency < 1:
            raise ValueError(f"concurrency {concurrency!r} must be at least 1")
        if settings is None:
            settings = WorkerSettings.load()
        elif isinstance(settings, Settings):
            settings = WorkerSettings.from_settings(settings)
        self.settings = settings.with_overrides(concurrency=concurrency, bot_lease_s=bot_lease_s)
        concurrency, bot_lease_s = self.settings.concurrency, self.settings.bot_lease_s
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self.bot = (BotIdentity(bot=bot, pool=pool, worker=self.name, lease_s=bot_lease_s)
                    if bot is not None and pool is not None else None)
        self.limiter = anyio.CapacityLimiter(concurrency)
        self.activities: dict[str, Activity] = {}
        self._stopping = anyio.Event()
        self._recent: OrderedDict[_Key, ActivityResult] = OrderedDict()
        self._running: dict[_Key, anyio.CancelScope] = {}
        self._holdings = Holdings(keep_s=bot_lease_s)
        self._in_hand: dict[object, tuple[Msg, float]] = {}
        self._idle: set[anyio.CancelScope] = set()
        # This worker's id in this process: in the claims it takes and in its announcement.
        self.instance = uuid.uuid4().hex
        self._claimant = f"{self.name} {self.instance}".encode()
        self.presence = Presence(self.name, self.instance, self._describe)
        self._said_goodbye = False

    # ---- registration -------------------------------------------------------

    def register(self, activity: str, fn: Activity) -> None:
        """Serve ``fn`` (``async def f(input: dict) -> Any``, or a sync function) as ``activity``."""
        self.activities[check_activity_name(activity)] = fn

    def activity(self, name: str) -> Callable[[Activity], Activity]:
        """Decorator form of :meth:`register`."""
        def decorate(fn: Activity) -> Activity:
            self.register(name, fn)
            return fn

        return decorate

    def _describe(self) -> dict[str, object]:
        """What the announcement says this worker serves (shared.messages.WorkerPresence)."""
        return {"activities": sorted(self.activities), "bot": self.bot and self.bot.bot,
                "pool": self.bot and self.bot.pool, "concurrency": self.settings.concurrency,
                "running": len(self._running), "version": build_id()}

    # ---- life cycle ---------------------------------------------------------

    def stop(self) -> None:
        """Stop pulling; running activities finish and report within the shutdown grace. Idempotent."""
        self._stopping.set()
        for scope in list(self._idle):
            scope.cancel()  # a pull waiting for a free slot stops waiting

    @contextlib.asynccontextmanager
    async def __asynccontextmanager__(self) -> AsyncIterator[Self]:
        async with anyio.create_task_group() as tg:
            await tg.start(self.run)
            try:
                yield self
            finally:
                self.stop()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        if not self.activities and self.bot is None:
            raise ValueError("nothing to serve: register an activity or run as a bot")
        nc = await connect_nats(self.settings.connection(), f"ee-worker {self.name}")
        try:
            inbox = ReplyInbox(nc)
            js = nc.jetstream()
            await ensure_streams(js, self.settings.max_payload_bytes)
            subs = [await self._consumer(js, durable, subject) for durable, subject in self._consumers()]
            await nc.subscribe(cancel_filter_subject(), cb=self._on_cancel)
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._keep_alive)
                tg.start_soon(self.presence.announce, js)
                tg.start_soon(watch_nats, nc)  # closed for good: exit, a supervisor restarts us
                if self.settings.ops_port:
                    async def nats_ok() -> bool:
                        return bool(nc.is_connected)

                    await tg.start(serve_ops, self.settings.ops_port, {"nats": nats_ok}, {"nats": nats_open(nc)})
                async with anyio.create_task_group() as serving:
                    async with anyio.create_task_group() as pulling:
                        for sub in subs:
                            pulling.start_soon(self._pull, sub, serving, inbox)
                        if self.bot is not None:
                            pulling.start_soon(self._beat_until_stopped, nc, self.bot)
                        log.info("worker ready", worker=self.name, nats=redact_url(self.settings.nats_url),
                                 activities=sorted(self.activities), bot=self.bot and self.bot.bot,
                                 pool=self.bot and self.bot.pool)
                        task_status.started()
                        # Each pull loop ends after its pull in flight, whose tasks it starts.
                    for sub in subs:
                        await self._take_stragglers(sub, serving, inbox)
                    await self._goodbye(nc)
                    grace = self.settings.shutdown_grace_s
                    log.info("stopping: finishing running activities", worker=self.name,
                             running=len(self._running), grace_s=grace)
                    serving.cancel_scope.deadline = anyio.current_time() + grace
                tg.cancel_scope.cancel()
            log.info("worker stopped", worker=self.name)
        finally:
            with anyio.CancelScope(shield=True):
                await self._goodbye(nc)
                # Bounded: a subscription whose handler was cancelled can keep drain waiting.
                with anyio.move_on_after(3):
                    # Closed for good (watch_nats), or reconnecting in an outage: nothing can be
                    # drained, and nats-py raises ConnectionReconnectingError for trying.
                    if nc.is_connected:
                        await nc.drain()
                await close_nats(nc)

    async def _goodbye(self, nc: NATS) -> None:
        """Stopping: no longer listed as serving (``ee workers``), a bot out of its pool at once."""
        await self.presence.withdraw()
        if self.bot is not None and not self._said_goodbye:
            self._said_goodbye = True
            with anyio.CancelScope(shield=True):
                await beat(nc, self.bot, stopping=True, holding=self._holdings.now)

    # ---- pulling ------------------------------------------------------------

    def _consumers(self) -> list[tuple[str, str]]:
        found = [(names.activity_consumer(a), names.activity_subject(a)) for a in sorted(self.activities)]
        if self.bot is not None:
            found.append((bot_consumer(self.bot.bot), bot_filter_subject(self.bot.bot)))
        return found

    async def _consumer(self, js: JetStreamContext, durable: str, subject: str) -> JetStreamContext.PullSubscription:
        """Create or update the shared durable consumer, then bind a pull subscription to it."""
        config = task_consumer_config(durable, subject, ack_wait=self.settings.activity_ack_wait_s)
        return await pull_consumer(js, names.STREAM_ACTIVITIES, config)

    async def _beat_until_stopped(self, nc: NATS, bot: BotIdentity) -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(heartbeats, nc, bot, self._holdings.now)
            await self._stopping.wait()
            tg.cancel_scope.cancel()

    async def _take_stragglers(self, sub: JetStreamContext.PullSubscription, serving: TaskGroup,
                               inbox: ReplyInbox) -> None:
        """Stopped: run tasks that reached the subscription after its last pull returned, then drop it.

        They are in hand like any other (a nak would bring them back delivered twice, which the
        next worker would refuse to run); without interest the server has no pull left to serve.
        """
        with anyio.CancelScope(shield=True):
            while sub.pending_msgs:
                try:
                    msg = await sub._sub.next_msg(timeout=0.1)
                except Exception:
                    break
                if msg.reply and not (msg.headers and msg.headers.get("Status")):
                    self._take(msg, serving, inbox, None)
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _reserve(self) -> list[object]:
        """Slots for the next pull: wait for one free slot, then take every free one (up to a batch)."""
        tokens = [object()]
        await self.limiter.acquire_on_behalf_of(tokens[0])
        while len(tokens) < FETCH_BATCH:
            token = object()
            try:
                self.limiter.acquire_on_behalf_of_nowait(token)
            except anyio.WouldBlock:
                break
            tokens.append(token)
        return tokens

    def _release(self, tokens: list[object]) -> None:
        for token in tokens:
            self.limiter.release_on_behalf_of(token)

    async def _pull(self, sub: JetStreamContext.PullSubscription, serving: TaskGroup, inbox: ReplyInbox) -> None:
        """Pull for as many tasks as there are slots reserved, start each at once; end on stop.

        A pull in flight is never cancelled: what it brings is started (a task handed back
        would come back delivered twice). Only the wait for a free slot ends at once on stop.
        """
        while not self._stopping.is_set():
            tokens: list[object] = []
            with anyio.CancelScope() as idle:
                self._idle.add(idle)
                try:
                    if not self._stopping.is_set():
                        tokens = await self._reserve()
                finally:
                    self._idle.discard(idle)
            if not tokens or self._stopping.is_set():
                self._release(tokens)
                break
            msgs = await pull(sub, len(tokens), PULL_WAIT_S, "tasks", retry_s=PULL_RETRY_S)
            for i, msg in enumerate(msgs):
                # A fetch also returns what was left in the subscription: past the reserved
                # slots, a task waits for one (kept alive meanwhile).
                self._take(msg, serving, inbox, tokens[i] if i < len(tokens) else None)
            self._release(tokens[len(msgs):])

    def _take(self, msg: Msg, serving: TaskGroup, inbox: ReplyInbox, token: object | None) -> None:
        """Serve ``msg`` in ``serving``, in the slot ``token`` holds or, without one, once a slot is free."""
        key = token if token is not None else object()
        self._in_hand[key] = (msg, anyio.current_time())
        serving.start_soon(self._serve, msg, key, inbox, token is not None)

    # ---- serving one task ---------------------------------------------------

    async def _serve(self, msg: Msg, token: object, inbox: ReplyInbox, has_slot: bool) -> None:
        task: ActivityTask | None = None
        running = False
        try:
            if not has_slot:
                await self.limiter.acquire_on_behalf_of(token)
                has_slot = True
            delivered = msg.metadata.num_delivered
            if delivered > 1:
                metrics.REDELIVERIES.labels(stream=names.STREAM_ACTIVITIES).inc()
            try:
                task = _tasks.decode(msg.data)
            except InvalidMessage as exc:
                log.warning("refused task: terminated", subject=msg.subject, error=str(exc))
                await msg.term()
                return
            running = True
            outcome = await self._result(inbox, task, delivered)
            running = False
            if outcome == RUNNING_HERE:
                return
            if outcome == DUPLICATE:
                await msg.ack()
                return
            assert isinstance(outcome, ActivityResult)
            await self._report(inbox, msg, task, outcome)
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                if running and task is not None:
                    await self._cut_off(inbox, msg, task)
                else:
                    with contextlib.suppress(Exception):
                        await msg.nak()
                    log.warning("task not started before shutdown; handed back", subject=msg.subject)
            raise
        except Exception as exc:
            log.warning("task not done: not claimed or its result not published; it will be delivered again",
                        event_id=task and task.event_id, error=repr(exc))
            with contextlib.suppress(Exception):
                await msg.nak(delay=PULL_RETRY_S)
        finally:
            self._in_hand.pop(token, None)
            if has_slot:
                self.limiter.release_on_behalf_of(token)

    async def _report(self, inbox: ReplyInbox, msg: Msg, task: ActivityTask, result: ActivityResult) -> None:
        """Publish the result (stored by JetStream), then ack the task: shielded, it is never half done."""
        data = encode_result(result, task, min(self.settings.max_payload_bytes, inbox.nc.max_payload))
        with anyio.CancelScope(shield=True):
            await self._publish_result(inbox, data)
            await msg.ack()
            self._holdings.reported((task.event_id, task.attempt))
        if not result.ok:
            log.info("activity failed", event_id=task.event_id, attempt=task.attempt,
                     activity=task.activity, error=result.error)

    async def _cut_off(self, inbox: ReplyInbox, msg: Msg, task: ActivityTask) -> None:
        """The shutdown grace ended while the activity ran: report the attempt failed (not run again)."""
        result = failure(task, f"attempt {task.attempt} stopped mid-run: worker {self.name} shut down "
                               f"before it finished (grace {self.settings.shutdown_grace_s:g} s)", self.name)
        self._remember((task.event_id, task.attempt), result)
        try:
            with anyio.fail_after(CUT_OFF_REPORT_S):
                await self._report(inbox, msg, task, result)
        except Exception as exc:
            # Not reported: the task comes back delivered twice and the next worker reports it.
            log.warning("cut-off activity not reported; its next delivery will be", event_id=task.event_id,
                        error=repr(exc))
        else:
            log.warning("activity cut off by shutdown; reported failed", event_id=task.event_id,
                        attempt=task.attempt)

    async def _result(self, inbox: ReplyInbox, task: ActivityTask, delivered: int = 1) -> Outcome:
        """The task's result, or what to do instead of reporting one.

        ``RUNNING_HERE``: another delivery of the attempt runs in this worker (that one reports).
        ``DUPLICATE``: another worker claimed the attempt and this is a first delivery, a second
        copy of its task (that worker reports). A finished attempt's redelivery (its ack was
        lost) gets the remembered result, not a second run.
        """
        key = (task.event_id, task.attempt)
        if key in self._running:
            log.info("redelivered while running; the running copy reports", event_id=task.event_id,
                     attempt=task.attempt)
            return RUNNING_HERE
        done = self._recent.get(key)
        if done is not None:
            return done
        fn = self.activities.get(task.activity)
        if fn is None:
            result = failure(task, f"worker {self.name} does not serve activity {task.activity!r}", self.name)
            self._remember(key, result)
            return result
        scope = self._running[key] = anyio.CancelScope()
        try:
            if not await self._claim(inbox, task):
                if delivered == 1:
                    log.info("second copy of a task another worker claimed; dropped", event_id=task.event_id,
                             attempt=task.attempt)
                    return DUPLICATE
                result = failure(task, f"attempt {task.attempt} was delivered again: the worker that had it "
                                       "stopped mid-run", self.name)
                log.warning("task delivered again, its attempt started elsewhere; not run a second time",
                            event_id=task.event_id, attempt=task.attempt, deliveries=delivered)
            else:
                self._holdings.claimed(key)
                started = anyio.current_time()
                result = await run_activity(fn, task, self.name, scope)
                metrics.ACTIVITY_SECONDS.labels(activity=task.activity).observe(anyio.current_time() - started)
        finally:
            del self._running[key]
        self._remember(key, result)
        return result

    async def _claim(self, inbox: ReplyInbox, task: ActivityTask) -> bool:
        """Record that this worker starts the attempt; False when another worker did first.

        Raises when NATS does not answer (the task is then delivered again later). A claim
        stored whose acknowledgement was lost is recognised as this worker's own.
        """
        subject = names.activity_claim_subject(task.event_id, task.attempt, task.token)
        try:
            await inbox.js_publish(subject, self._claimant, {"Nats-Expected-Last-Subject-Sequence": "0"})
            return True
        except JetStreamPublishError as exc:
            if exc.err_code != WRONG_LAST_SEQUENCE:
                raise
        holder = await inbox.nc.jetstream().get_last_msg(names.STREAM_CLAIMS, subject)
        return bytes(holder.data or b"") == self._claimant

    def _remember(self, key: _Key, result: ActivityResult) -> None:
        self._recent[key] = result
        while len(self._recent) > RECENT_RESULTS:
            self._recent.popitem(last=False)

    async def _publish_result(self, inbox: ReplyInbox, data: bytes) -> None:
        """Publish with JetStream's ack, riding out a NATS restart: a result is the costliest thing to lose."""
        await retrying(lambda: inbox.js_publish(names.ACTIVITY_RESPONSE, data),
                       when=lambda exc: isinstance(exc, Exception), patience=RESULT_PATIENCE_S,
                       first_s=0.1, most_s=2.0)

    async def _keep_alive(self) -> None:
        """Tell JetStream the tasks in hand are still being worked on, so it does not redeliver them.

        One loop for all of them, every ack wait / 4, rather than a timer per task; each tick
        tells every task in hand, the one delivered a moment ago too, so that no task goes more
        than a quarter of the ack wait (plus the loop's own delay) untold. A task left untold
        past the ack wait is delivered again, and its second copy, finding the attempt claimed,
        reports it failed as the attempt of a worker that stopped mid-run (docs/workers.md).
        """
        period = max(self.settings.activity_ack_wait_s / 4, 0.1)
        while True:
            await anyio.sleep(period)
            for msg, _ in list(self._in_hand.values()):
                with contextlib.suppress(Exception):
                    await msg.in_progress()

    async def _on_cancel(self, msg: Msg) -> None:
        """Best effort: the reactor says an event's job was cancelled; stop running it."""
        event_id = cancel_event_id(msg.subject)
        for (running, attempt), scope in list(self._running.items()):
            if running == event_id:
                log.info("activity cancelled with its job", event_id=event_id, attempt=attempt)
                scope.cancel()

    def __repr__(self) -> str:
        return f"Worker(name={self.name!r}, activities={sorted(self.activities)!r}, bot={self.bot!r})"
