"""The reactor service: owns every durable fact in Redis and serves ``ee-reactor``."""

from __future__ import annotations

from functools import partial

import anyio
import structlog
from anyio.abc import TaskGroup, TaskStatus
from nats.aio.client import Client as NATS

from reactor.activity_clock import ActivityClock
from reactor.bots import Hearing, bot_lease_loop, heartbeat_handler
from reactor.cancels import cancel_loop
from reactor.catch_up import StartGate
from reactor.clock import JobClock
from reactor.deployments import Deployments
from reactor.dispatch import Dispatcher, dispatch_sweep
from reactor.endpoints import Endpoint, serve_endpoints
from reactor.gauges import gauge_loop
from reactor.jobs import JobSteps
from reactor.leader import Leadership
from reactor.limits import Limits
from reactor.operator_actions import OperatorActions
from reactor.result_tokens import AttemptTokens
from reactor.results import results_loop
from reactor.retention import retention_loop
from reactor.retries import Retries
from reactor.schedules import Schedules
from reactor.signals import Signals
from reactor.status_backfill import status_backfill
from reactor.store import Store
from reactor.tasks import Tasks
from reactor.timers import timer_loop
from reactor.wakes import lease_loop
from shared import names
from shared.build import build_id, package_version
from shared.config import Settings, redact_url
from shared.connect import check_redis, close_nats, connect_nats, connect_redis, nats_open, watch_nats
from shared.messages import (
    CancelRequest,
    DeadLetter,
    DeployedRequest,
    DeploymentsRequest,
    DeployRequest,
    EventOp,
    FinishRequest,
    IntakeRequest,
    LimitRequest,
    LimitSetRequest,
    ParkRequest,
    PurgeRequest,
    RedriveRequest,
    RetryRequest,
    SignalRequest,
    StartRequest,
    StrandRequest,
    TaskOp,
    WorkflowRequest,
)
from shared.names import Keys
from shared.ops_http import serve_ops
from shared.streams import ensure_streams, ensure_workers_bucket
from shared.tasks import TaskSet

__all__ = ["Reactor"]

log = structlog.get_logger("ee.reactor")


async def _close_nats(nc: NATS) -> None:
    """Flush what was published, then close.

    Every request and loop step is cancelled by now, each atomic in Redis and acked only
    after it, so nothing is half done and there is nothing left to drain. ``drain()`` would
    wait for the messages still queued in subscriptions whose readers were cancelled (the
    late status of an expired pull request, say), which nobody consumes any more: it would
    hang until its bound and leave nats-py's cancelled gather unretrieved (a raw
    "_GatheringFuture exception was never retrieved" traceback on stderr)."""
    if nc.is_connected:
        with anyio.move_on_after(2):
            try:
                await nc.flush(timeout=2)
            except Exception as exc:
                log.warning("flush at shutdown failed", error=repr(exc))
    await close_nats(nc)


class Reactor:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.build = build_id()
        self.nc: NATS | None = None

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        s = self.settings
        redis = connect_redis(s)
        await check_redis(redis, s)
        nc = self.nc = await connect_nats(s, f"ee-reactor {self.build}")
        store = Store(redis, Keys(s.redis_prefix), s.wake_lease_s, s.strand_after, s.history_max,
                      retention_s=s.retention_s)
        await store.load()
        leadership = Leadership(store, s.reactor_lease_s)
        try:
            async with TaskSet("reactor requests") as requests, anyio.create_task_group() as tg:
                if s.ops_port:
                    async def redis_ok() -> bool:
                        return await store.ping()

                    async def nats_ok() -> bool:
                        return bool(nc.is_connected)

                    await tg.start(partial(serve_ops, s.ops_port, {"nats": nats_ok, "redis": redis_ok},
                                           {"nats": nats_open(nc)}, role=lambda: leadership.role))
                tg.start_soon(watch_nats, nc)  # closed for good: exit, a supervisor restarts us
                # A standby acts on nothing: no stream, consumer, endpoint or loop until it holds
                # the lease. Then a takeover is a reactor start like any other.
                epoch = await leadership.acquire()
                tg.start_soon(leadership.hold)  # raises LeaseLost: the task group, and the reactor, stop
                await self._act(s, nc, store, requests, tg, epoch)
                task_status.started()
        finally:
            with anyio.CancelScope(shield=True):
                # NATS first: the results consumer is free for the reactor that takes over.
                await _close_nats(nc)
                await leadership.release()
                await redis.aclose()

    async def _act(self, s: Settings, nc: NATS, store: Store, requests: TaskSet, tg: TaskGroup, epoch: int) -> None:
        """The reactor's start, once it holds the lease: streams, endpoints and loops."""
        js = nc.jetstream()
        await ensure_streams(js, s.max_payload_bytes)
        # The workers' bucket too: under deploy/nats/auth.conf only the reactor may make it.
        await ensure_workers_bucket(js)
        for warning in await store.persistence_warnings():
            log.warning(warning)
        await store.migrate_bot_indexes()
        tokens = await AttemptTokens.load(store)
        dispatcher = Dispatcher(nc, js, store, ActivityClock(), tokens, s.max_payload_bytes)
        jobs, signals = JobSteps(store, dispatcher), Signals(store, dispatcher)
        operator = OperatorActions(store, dispatcher)
        deployments, retries, limits = Deployments(store), Retries(store, dispatcher), Limits(store)
        await tg.start(store.run)
        await tg.start(dispatcher.run)
        endpoints = [
            Endpoint("start", StartRequest, jobs.start),
            Endpoint("park", ParkRequest, jobs.park),
            Endpoint("finish", FinishRequest, jobs.finish),
            Endpoint("redrive", RedriveRequest, jobs.redrive),
            Endpoint("workflow", WorkflowRequest, jobs.workflow),
            Endpoint("signal", SignalRequest, signals.signal),
            Endpoint("cancel", CancelRequest, operator.cancel),
            Endpoint("inspect", CancelRequest, jobs.inspect),
            Endpoint("deadletter", DeadLetter, jobs.deadletter),
            Endpoint("event", EventOp, operator.event),
            Endpoint("strand", StrandRequest, jobs.strand),
            Endpoint("intake", IntakeRequest, jobs.intake),
            Endpoint("purge", PurgeRequest, operator.purge),
            Endpoint("deploy", DeployRequest, deployments.deploy),
            Endpoint("deployed", DeployedRequest, deployments.deployed),
            Endpoint("deployments", DeploymentsRequest, deployments.deployments),
            Endpoint("retry", RetryRequest, retries.retry),
            Endpoint("limit_set", LimitSetRequest, limits.set),
            Endpoint("limit_delete", LimitRequest, limits.delete),
            Endpoint("limit_show", LimitRequest, limits.show),
            Endpoint("limit_list", LimitRequest, limits.list),
            Endpoint("task", TaskOp, Tasks(store, dispatcher).task),
        ]
        # Flow control, the clock: delayed starts, deadlines, schedules (reactor.clock, reactor.schedules).
        job_clock, schedules = JobClock(store, dispatcher), Schedules(store, nc, s.max_payload_bytes)
        endpoints += job_clock.endpoints() + schedules.endpoints()
        await serve_endpoints(nc, requests, endpoints, package_version(), s.max_payload_bytes)
        # The reactor's own downtime counts against nobody: the loops that judge
        # clocks (timeouts, wake leases, bot leases) wait at the gate until the results
        # waiting in the stream are applied and every pending wake was offered again
        # under a fresh lease; bot leases are extended first (reactor.bots.Hearing).
        gate = StartGate()
        hearing = Hearing(nc)
        tg.start_soon(partial(results_loop, js, store, dispatcher, s.max_payload_bytes))
        tg.start_soon(partial(cancel_loop, js, store, operator, s.max_payload_bytes))
        tg.start_soon(timer_loop, store, dispatcher, gate)
        tg.start_soon(lease_loop, store, dispatcher, gate)
        tg.start_soon(dispatch_sweep, store, dispatcher)
        tg.start_soon(bot_lease_loop, store, dispatcher, gate, hearing)
        tg.start_soon(gauge_loop, store, js, s.gauge_interval_s)
        tg.start_soon(status_backfill, store)
        tg.start_soon(retention_loop, store)
        tg.start_soon(job_clock.deferred_loop, gate)
        tg.start_soon(job_clock.deadline_loop, gate)
        tg.start_soon(schedules.loop)
        beats = heartbeat_handler(tg, store, dispatcher, hearing)
        await nc.subscribe(f"{names.BOTS_HEARTBEAT_PREFIX}>", cb=beats)
        await nc.subscribe(names.BOTS_HEARTBEAT, cb=beats)  # legacy: workers before per-bot subjects
        offered = await jobs.redrive(RedriveRequest())
        tg.start_soon(gate.catch_up, js)
        log.info("reactor ready", nats=redact_url(s.nats_url), redis=redact_url(s.redis_url),
                 build=self.build, wakes_offered=offered.offered, epoch=epoch)
