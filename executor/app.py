"""The executor service: takes jobs and wakes, advances them, hands them back to the reactor.

It holds a job only between receiving it and the reactor's reply to its park or
finish; everything else lives in the reactor.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import anyio
import msgspec
import structlog
from anyio.abc import TaskStatus
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext

from executor.clock_start import arm_deadline, defer_start, plan_start
from executor.intake import Intake
from executor.jobs import JobDriver, WorkflowCache, fail_start_over_limit
from shared import metrics, names
from shared.build import build_id
from shared.config import Settings, redact_url
from shared.connect import close_nats, connect_nats, nats_open, watch_nats
from shared.consume import pull, pull_consumer
from shared.errors import (
    EngineError,
    EngineUnavailable,
    InvalidMessage,
    InvalidWorkflow,
    JobNotFound,
    OverLimit,
    ReactorError,
    UnreadableWorkflow,
)
from shared.failpoints import failpoint
from shared.messages import (
    Ack,
    CancelRequest,
    Codec,
    DeadLetter,
    FiredEvent,
    JobRequest,
    JobView,
    RedriveReply,
    RedriveRequest,
    StartReply,
    StartRequest,
    StrandRequest,
    Wake,
)
from shared.naming import check_name
from shared.ops_http import serve_ops
from shared.reactor_client import ReactorClient
from shared.streams import consumer_config, ensure_streams
from shared.tasks import TaskSet

__all__ = ["Executor"]

log = structlog.get_logger("ee.executor")
_jobs = Codec(JobRequest, names.JOBS_EXECUTE)
_wakes = Codec(Wake, names.EXECUTOR_WAKE)
_json = msgspec.json.Encoder()

# Jobs held unacked at once across executors: those in hand (each executor takes at most its
# max_jobs) and those waiting out a redelivery delay for a capable executor (a nak'd message
# keeps its slot while its delay runs). Room for many of the latter, so that they never hold
# back the jobs behind them.
JOBS_MAX_ACK_PENDING = 20_000
# Times a wake this build cannot run is passed on to another executor (queue groups pick one
# at random) before it is left to its lease: during a rollout a newer executor likely has it.
WAKE_HOPS = 10


def _generated_id(msg: Msg) -> str:
    """The id of a job submitted without one: random-looking, and the same at each delivery of
    its message (a redelivered job starts no second job). Derived from what JetStream stored with
    the message: its stream, sequence and storage time (to the microsecond, so a stream made anew
    does not hand out an id again) and its ``Nats-Msg-Id``. ``ee submit`` always sends a fully
    random id (``shared.names.new_job_id``)."""
    meta = msg.metadata
    stored = int(meta.timestamp.timestamp() * 1_000_000)
    msg_id = (msg.headers or {}).get("Nats-Msg-Id", "")
    return names.new_job_id(f"{meta.stream}\n{meta.sequence.stream}\n{stored}\n{msg_id}".encode())


class Executor:
    def __init__(self, settings: Settings, max_jobs: int = 1000) -> None:
        self.settings = settings
        self.build = build_id()
        self.max_jobs = max_jobs
        # asyncio's semaphore: anyio's CapacityLimiter yields to the loop on every acquire and
        # release, 8.5 µs a pair here against 0.7 µs, and showed in the executor's profile.
        self.limiter = asyncio.Semaphore(max_jobs)
        self.instance = uuid.uuid4().hex[:8]
        self._intake = anyio.CancelScope()
        self._draining = False
        self.nc: NATS | None = None
        self._wake_sub: Subscription | None = None
        self._work: TaskSet | None = None
        metrics.IN_HAND.set_function(lambda: self.in_hand)

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        s = self.settings
        nc = self.nc = await connect_nats(s, f"ee-executor {self.build} {self.instance}")
        js = nc.jetstream()
        # The executor only reads jobs; the reactor creates and updates the streams.
        await ensure_streams(js, s.max_payload_bytes, manage=False, only=(names.STREAM_JOBS,))
        client = ReactorClient(nc, max_payload=s.max_payload_bytes)
        self.client = client
        self.workflows = WorkflowCache(client)
        self.driver = JobDriver(client, self.build, self.workflows)
        self.unstarted = Intake(client, self.build, s.jobs_redelivery_max_s, self._deadletter)
        try:
            async with TaskSet("executor jobs and wakes") as work, anyio.create_task_group() as tg:
                self._work = work
                if s.ops_port:
                    async def nats_ok() -> bool:
                        return bool(nc.is_connected)

                    async def reactor_ok() -> bool:
                        try:
                            await client.call("inspect", CancelRequest(job_id="ready-probe"), JobView, patience=0.5)
                        except JobNotFound:
                            return True  # it answered, about the probe's id
                        except EngineError:
                            return False
                        return True

                    await tg.start(serve_ops, s.ops_port, {"nats": nats_ok, "reactor": reactor_ok},
                                   {"nats": nats_open(nc)})

                tg.start_soon(watch_nats, nc)  # closed for good: exit, a supervisor restarts us

                async def on_wake(msg: Msg) -> None:
                    if not self._draining:
                        work.spawn(self._on_wake(msg))

                self._wake_sub = await nc.subscribe(
                    names.EXECUTOR_WAKE, queue=names.EXECUTOR_WAKE_QUEUE, cb=on_wake)
                # A job message is acked after its first park; one held by an executor that
                # died before starting it comes back after the ack wait. Redelivered without
                # limit: a job is never dropped for being offered often (one this build cannot
                # read comes back every few seconds until a capable executor takes it); what
                # no build could accept is refused explicitly (executor.intake).
                config = consumer_config(names.CONSUMER_EXECUTOR_JOBS, names.JOBS_EXECUTE,
                                         ack_wait=s.jobs_ack_wait_s, max_deliver=-1,
                                         max_ack_pending=JOBS_MAX_ACK_PENDING)
                jobs_sub = await pull_consumer(js, names.STREAM_JOBS, config)
                tg.start_soon(self._jobs_loop, work, jobs_sub)
                redriven = await client.call("redrive", RedriveRequest(build=self.build), RedriveReply,
                                             patience=3600)
                log.info("executor ready", nats=redact_url(s.nats_url), build=self.build,
                         wakes_redriven=redriven.offered)
                task_status.started()
                await anyio.sleep_forever()
        finally:
            with anyio.CancelScope(shield=True):
                await close_nats(nc)

    @property
    def in_hand(self) -> int:
        """Jobs and wakes this executor holds now (received, not yet parked or finished)."""
        return 0 if self._work is None else len(self._work)

    async def drain(self, grace_s: float) -> None:
        """Stop taking work, then wait up to ``grace_s`` for the jobs in hand to park or finish."""
        self._draining = True
        self._intake.cancel()
        if self._wake_sub is not None:
            await self._wake_sub.unsubscribe()
        with anyio.move_on_after(grace_s):
            while self.in_hand:  # noqa: ASYNC110 - a task set has no "empty" event
                await anyio.sleep(0.02)
        if self.in_hand:
            # Not lost: a job not yet acked comes back from JetStream, a wake from its lease.
            log.warning("grace period over with jobs in hand; other executors take them over",
                        in_hand=self.in_hand, grace_s=grace_s)
        log.info("drained", in_hand=self.in_hand)

    async def _jobs_loop(self, work: TaskSet, sub: JetStreamContext.PullSubscription) -> None:
        with self._intake:
            while True:
                free = self.max_jobs - self.in_hand
                if free <= 0:
                    await anyio.sleep(0.01)
                    continue
                for msg in await pull(sub, min(free, 128), 1.0, "jobs"):
                    work.spawn(self._on_job(msg))

    async def _deadletter(self, subject: str, reason: str, data: bytes) -> None:
        metrics.DEADLETTERS.labels(subject=subject).inc()
        log.warning("refused message", subject=subject, reason=reason)
        try:
            await self.client.call("deadletter", DeadLetter(
                subject=subject, reason=reason, data=data[:1024].decode("utf-8", "replace")), Ack,
                patience=10)
        except EngineError as exc:
            log.warning("dead-letter record not stored", error=repr(exc))

    async def _on_job(self, msg: Msg) -> None:
        if msg.metadata.num_delivered > 1:
            metrics.REDELIVERIES.labels(stream=names.STREAM_JOBS).inc()
        async with self.limiter:
            try:
                if len(msg.data) > self.settings.max_payload_bytes:
                    raise InvalidMessage(names.JOBS_EXECUTE, "payload over the size limit")
                request = _jobs.decode(msg.data)
                if request.job_id is not None:
                    check_name("job", request.job_id)  # refused here: a dead letter, never a job
            except EngineError as exc:
                await self._deadletter(names.JOBS_EXECUTE, str(exc), msg.data)
                await msg.term()
                return
            job_id = request.job_id or _generated_id(msg)
            try:
                workflow, encoded, digest = self.workflows.submitted(request.workflow)
            except UnreadableWorkflow as exc:
                await self.unstarted.leave(msg, job_id, request, exc)
                return
            except InvalidWorkflow as exc:
                await self.unstarted.refuse(msg, job_id, request, exc)
                return
            try:  # flow control, the clock: a delayed start goes to the reactor's clock
                plan = plan_start(request, workflow, time.time())
                if plan.not_before is not None:
                    await defer_start(self.client, job_id, request, workflow, encoded, plan, self.build)
            except (ReactorError, EngineUnavailable) as exc:
                log.warning("job not deferred; will be redelivered", job_id=job_id, error=repr(exc))
                await msg.nak(delay=1.0)
                return
            except EngineError as exc:
                await self._deadletter(names.JOBS_EXECUTE, str(exc), msg.data)
                await msg.term()
                return
            if plan.not_before is not None:
                await msg.ack()
                return
            try:
                started = await self.client.call("start", StartRequest(
                    job_id=job_id, workflow=encoded, digest=digest, name=workflow.name,
                    version=workflow.version, start=workflow.start, input=request.input,
                    build=self.build, priority=request.priority), StartReply)
                await failpoint("job-started")
                if plan.deadline is not None and started.status not in ("completed", "failed", "cancelled"):
                    await arm_deadline(self.client, job_id, plan)
                if started.status == "running" and started.checkpoint is not None:
                    await self.driver.drive(job_id, started.fence, workflow, started.checkpoint,
                                            started.input)
            except OverLimit as exc:
                await fail_start_over_limit(self.driver, job_id, workflow, exc)
            except ReactorError as exc:  # a failure the reactor did not expect: maybe not the job's
                log.warning("job not started; will be redelivered", job_id=job_id, error=repr(exc))
                await msg.nak(delay=1.0)
                return
            except EngineUnavailable as exc:
                log.warning("reactor unavailable; job will be redelivered", job_id=job_id, error=repr(exc))
                await msg.nak(delay=1.0)
                return
            except EngineError as exc:  # refused by the reactor: sent again, it would be refused again
                await self._deadletter(names.JOBS_EXECUTE, str(exc), msg.data)
                await msg.term()
                return
            await msg.ack()

    async def _on_wake(self, msg: Msg) -> None:
        received = time.perf_counter()
        async with self.limiter:
            await failpoint("wake-received")
            try:
                wake = _wakes.decode(msg.data)
            except InvalidMessage as exc:
                await self._deadletter(names.EXECUTOR_WAKE, str(exc), msg.data)
                return
            try:
                try:
                    workflow = await self.workflows.get(wake.digest)
                except InvalidWorkflow as exc:
                    await self._cannot_run(msg, wake, exc)
                    return
                # Every fired event of the job; a reactor older than branches sends its one event alone.
                fired = wake.fired or ([FiredEvent(event_id=wake.event_id, kind=wake.kind, result=wake.result)]
                                       if wake.event_id else [])
                await self.driver.drive(wake.job_id, wake.fence, workflow, wake.checkpoint, wake.input, fired)
            except EngineError as exc:
                # The wake lease will offer the job again.
                log.warning("wake not completed", job_id=wake.job_id, error=repr(exc))
            metrics.WAKE_SECONDS.observe(time.perf_counter() - received)

    async def _cannot_run(self, msg: Msg, wake: Wake, exc: InvalidWorkflow) -> None:
        """A wake of a job this build cannot run (its workflow has a kind or field of a newer
        build): pass it on to another executor a few times, then mark the job stranded with
        the reason (``ee status``); its wake lease offers it again either way."""
        hops = (msg.headers or {}).get(names.WAKE_HOPS_HEADER, "0")
        passed = int(hops) if hops.isdigit() else WAKE_HOPS
        if passed < WAKE_HOPS and self.nc is not None:
            await self.nc.publish(names.EXECUTOR_WAKE, msg.data, headers={names.WAKE_HOPS_HEADER: str(passed + 1)})
            return
        await self.client.call("strand", StrandRequest(
            job_id=wake.job_id, reason=f"executor build {self.build} cannot run it: {exc}",
            build=self.build), Ack, patience=10)
