"""The reactor's background work: results in, timers, wake leases, the dispatch sweep."""

from __future__ import annotations

import contextlib
from typing import Any

import anyio
import msgspec
import structlog
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from reactor.catch_up import StartGate
from reactor.dispatch import Dispatcher
from reactor.error_classes import is_business, result_record
from reactor.operations import Operations
from reactor.outcomes import Fired, Ignored, Redispatch, Refused
from reactor.retention import purge_finished
from reactor.store import ResultIn, Store
from shared import clock, metrics, names
from shared.bounds import bounded_text
from shared.consume import durable_push, pull
from shared.errors import EngineError, InvalidMessage, JobNotFound
from shared.failpoints import failpoint
from shared.messages import ActivityResult, CancelRequest, Codec
from shared.poison import given_up
from shared.streams import consumer_config

__all__ = ["cancel_loop", "dispatch_sweep", "gauge_loop", "lease_loop", "refuse", "results_loop", "retention_loop",
           "timer_loop"]

log = structlog.get_logger("ee.reactor")
_json = msgspec.json.Encoder()
_results = Codec(ActivityResult, names.ACTIVITY_RESPONSE)
_cancels = Codec(CancelRequest, names.JOBS_CANCEL)

async def _pull(js: JetStreamContext, stream: str, subject: str, durable: str, max_payload: int) -> Any:
    # Applying a result takes milliseconds: a short ack wait brings back a batch held by a
    # reactor that died quickly. Applying one twice is harmless (the result script ignores it).
    config = consumer_config(durable, subject, ack_wait=5.0, max_deliver=-1, max_ack_pending=4096)
    # The stream is named: nats-py would otherwise look it up by subject ($JS.API.STREAM.NAMES).
    return await js.pull_subscribe(subject, durable=durable, stream=stream, config=config, pending_msgs_limit=-1,
                                   pending_bytes_limit=-1)


async def results_loop(js: JetStreamContext, store: Store, dispatcher: Dispatcher, max_payload: int) -> None:
    """Apply activity results; each message is acked only after its Redis step."""
    # Applying a result takes milliseconds: a short ack wait brings back a batch held by a
    # reactor that died. Applying one twice is harmless (the result script ignores it).
    results = await durable_push(js, names.STREAM_RESPONSES, names.ACTIVITY_RESPONSE,
                                 names.CONSUMER_REACTOR_RESPONSES, ack_wait=5.0,
                                 max_deliver=-1, max_ack_pending=4096)
    while True:
        msgs = await results.next(256)
        calls: list[tuple[Any, ResultIn]] = []
        for msg in msgs:
            if msg.metadata.num_delivered > 1:
                metrics.REDELIVERIES.labels(stream=names.STREAM_RESPONSES).inc()
            try:
                res = _results.decode(msg.data, max_payload)
                payload = _json.encode(result_record(res))
                authentic = not res.token or dispatcher.tokens.valid(res.event_id, res.attempt, res.token)
            except Exception as exc:  # InvalidMessage, or anything else this message alone causes
                await refuse(store, names.ACTIVITY_RESPONSE, exc, msg)
                continue
            if not authentic:
                # Forged or for another attempt: refused here, with no Redis step at all.
                await _refuse_result(store, msg.data, res, "wrong attempt token")
                await msg.term()
                continue
            dispatcher.clock.arrived(res.event_id, res.attempt)
            calls.append((msg, ResultIn(res.event_id, res.attempt, res.ok, payload, res.error or "",
                                        token=bool(res.token), business=is_business(res))))
        if not calls:
            continue
        outcomes = await store.results([r for _, r in calls])
        await failpoint("results-committed")
        wakes = []
        for (msg, _), out in zip(calls, outcomes, strict=True):
            match out:
                case Exception():
                    if given_up(msg, out):
                        await refuse(store, names.ACTIVITY_RESPONSE, out, msg)
                    else:
                        log.warning("result not stored; it will be redelivered", error=bounded_text(str(out)))
                        await msg.nak(delay=1.0)
                    continue
                case Refused():
                    await _refuse_result(store, msg.data, _results.decode(msg.data), out.reason)
                case Ignored():
                    metrics.DUPLICATE_RESULTS.inc()
                case Fired():
                    wakes.append(out.wake)
        await dispatcher.wakes(wakes)
        for (msg, _), out in zip(calls, outcomes, strict=True):
            if not isinstance(out, Exception):
                await msg.ack()


async def _refuse_result(store: Store, data: bytes, res: ActivityResult, why: str) -> None:
    """A result that is not authentic: counted and dead-lettered (bounded reason); it fires nothing."""
    metrics.RESULTS_REFUSED.inc()
    metrics.DEADLETTERS.labels(subject=names.ACTIVITY_RESPONSE).inc()
    reason = f"result refused: {why} (event {res.event_id[:120]!r}, attempt {res.attempt})"
    await store.deadletter(names.ACTIVITY_RESPONSE, reason, data)


async def timer_loop(store: Store, dispatcher: Dispatcher, gate: StartGate | None = None,
                     interval: float = 0.05) -> None:
    """Fire due timers: sleeps, wait timeouts, activity timeouts and retry backoffs.

    Not before ``gate`` opens: a timeout that fell due while no reactor ran is judged
    only after the results waiting in the stream were applied (``reactor.catch_up``)."""
    if gate is not None:
        await gate.wait()
    while True:
        try:
            now = clock.now()
            due = await store.due(store.keys.timers, now)
            if due:
                outcomes = await store.fire_timers(due, now)
                wakes, redo = [], []
                for event_id, out in zip(due, outcomes, strict=True):
                    match out:
                        case Exception():
                            log.warning("timer failed", event_id=event_id, error=str(out))
                        case Fired():
                            wakes.append(out.wake)
                        case Redispatch():
                            redo.append(event_id)
                await dispatcher.wakes(wakes)
                await dispatcher.redispatch(redo)
                if len(due) >= 500:
                    continue
        except Exception as exc:
            log.warning("timer pass failed", error=repr(exc))
            await anyio.sleep(0.5)
        await anyio.sleep(interval)


async def lease_loop(store: Store, dispatcher: Dispatcher, gate: StartGate | None = None,
                     interval: float = 0.25) -> None:
    """Offer again the wakes whose lease ran out without a park or finish.

    Not before ``gate`` opens: by then the start-up redrive has offered every pending
    wake under a fresh lease, so a lease that ran out while no reactor ran (an executor
    could not park meanwhile) does not count as a lapse against the job."""
    if gate is not None:
        await gate.wait()
    while True:
        try:
            now = clock.now()
            due = await store.due(store.keys.wakes, now)
            if due:
                wakes = await store.offer_again(due, now, lapsed=True)
                if wakes:
                    log.info("wake leases lapsed; offering again", count=len(wakes))
                await dispatcher.wakes(wakes)
        except Exception as exc:
            log.warning("lease pass failed", error=repr(exc))
            await anyio.sleep(0.5)
        await anyio.sleep(interval)


async def dispatch_sweep(store: Store, dispatcher: Dispatcher, *, first: bool = True,
                         grace_s: float = 5.0, interval: float = 2.0) -> None:
    """Dispatch events that were parked but whose publish was never acknowledged."""
    while True:
        try:
            members = await store.due(store.keys.dispatch, None if first else clock.now() - grace_s, limit=1000)
            if members:
                sent = await dispatcher.redispatch(members)
                if sent:
                    log.info("re-dispatched activities", count=sent)
                if len(members) == 1000:
                    continue
            first = False
        except Exception as exc:
            log.warning("dispatch sweep failed", error=repr(exc))
        await anyio.sleep(interval)


def retention_interval(retention_s: float) -> float:
    """How often the retention sweep runs: a quarter of the retention, between 0.5 s and 60 s
    (a job whose keys expired stays listed in the indexes at most that long; ``ee jobs``
    skips such ids meanwhile)."""
    return min(60.0, max(0.5, retention_s / 4))


async def retention_loop(store: Store, interval: float | None = None) -> None:
    """Take finished jobs older than the retention (``EE_RETENTION``, their keys expired by
    their TTL) out of every index of job ids, in bounded batches (``reactor.retention``).
    Nothing to do when the retention is 0 (finished jobs are kept)."""
    if store.retention_s <= 0:
        return
    pause = retention_interval(store.retention_s) if interval is None else interval
    while True:
        try:
            tally = await purge_finished(store, store.retention_s, pause_s=0.01)
            if tally.total:
                log.info("finished jobs past their retention removed", count=tally.total, **tally.removed)
        except Exception as exc:
            log.warning("retention sweep failed", error=repr(exc))
        await anyio.sleep(pause)


async def cancel_loop(js: JetStreamContext, store: Store, ops: Operations, max_payload: int) -> None:
    """Cancellations published to ``jobs.cancel`` (durable: kept while the reactor is down).

    A cancel may overtake its job (both are on the ``EE_JOBS`` stream, read by different
    services): for a job not created yet it records the job as cancelled, and the job's
    start then finds it so and nothing runs.
    """
    sub = await _pull(js, names.STREAM_JOBS, names.JOBS_CANCEL, names.CONSUMER_REACTOR_CANCEL, max_payload)
    while True:
        for msg in await pull(sub, 64, 1.0, "cancels"):
            try:
                request = _cancels.decode(msg.data, max_payload)
                while True:
                    try:
                        await ops.cancel(request)
                        break
                    except JobNotFound:
                        # Cancelled before it started: record it cancelled, so that it never runs.
                        # (The request/reply cancel still answers "unknown job" instead.)
                        if await store.cancel_before_start(request.job_id, request.reason):
                            metrics.JOBS_FINISHED.labels(status="cancelled").inc()
                            log.info("cancel recorded before the job started", job_id=request.job_id)
                            break
                        # The job was created in between: cancel it the ordinary way.
            except InvalidMessage as exc:
                await refuse(store, names.JOBS_CANCEL, exc, msg)
                continue
            except EngineError as exc:
                log.info("cancel refused", error=bounded_text(str(exc)))
            except Exception as exc:
                if given_up(msg, exc):
                    await refuse(store, names.JOBS_CANCEL, exc, msg)
                    continue
                log.warning("cancel failed; will be redelivered", error=bounded_text(repr(exc)))
                await msg.nak(delay=1.0)
                continue
            await msg.ack()


async def refuse(store: Store, subject: str, exc: BaseException, msg: Any) -> None:
    """A message that fails for good: dead-lettered with its reason, then terminated, so
    that JetStream never delivers it again (not after a restart either). Never raises for
    the record: a dead letter that cannot be stored is logged instead."""
    if isinstance(exc, EngineError):
        reason = str(exc)
    else:
        reason = f"failed {msg.metadata.num_delivered} times: {type(exc).__name__}: {exc}"
    metrics.DEADLETTERS.labels(subject=subject).inc()
    try:
        await store.deadletter(subject, bounded_text(reason), msg.data)
    except Exception as lost:
        log.warning("dead letter not stored", subject=subject, reason=bounded_text(reason), error=repr(lost))
    with contextlib.suppress(Exception):  # a lost term is redelivered and refused again
        await msg.term()


_GAUGE_SAMPLE = 10_000


async def _gauge_pass(store: Store, js: JetStreamContext | None) -> None:
    """One count of jobs by status and parked events by kind, from index sizes and the jobs
    awaiting an executor (the wake set: usually few), never a scan of every key.

    Each parked job has one open event. Its job is ``parked`` while the event is parked and
    ``waking`` once it fired until an executor resumes it (the job is then in the wake set,
    its ``wake_event`` the fired one); a started job not parked yet is ``running`` (in the wake
    set too). Beyond ``_GAUGE_SAMPLE`` jobs in the wake set the split is estimated from the
    first ones."""
    snap = await store.gauge_snapshot(_GAUGE_SAMPLE)
    jobs, fired_kinds, total_waking = snap.sampled, snap.fired_kinds, snap.total_waking
    sample = jobs
    scale = total_waking / len(sample) if sample else 0.0
    running = round(scale * sum(1 for status, _, _ in jobs if status == "running"))
    waking = round(scale * len(fired_kinds))
    stranded = round(scale * sum(1 for _, _, why in jobs if why))
    parked = 0
    for kind, count in zip(names.EVENT_KINDS, snap.open_events, strict=True):
        waiting = max(0, int(count) - round(scale * fired_kinds.count(kind)))
        metrics.PARKED_EVENTS.labels(kind=kind).set(waiting)
        parked += waiting
    # A pending record (an executor that could not read the workflow left the job for another)
    # is a job hash in the jobs index too, but not a finished job.
    recorded = snap.recorded_pending
    counts = {"running": running, "parked": parked, "waking": waking, "stranded": stranded,
              "finished": max(0, snap.total_jobs - recorded - running - parked - waking)}
    if js is None:
        counts["pending"] = recorded
    else:
        with contextlib.suppress(Exception):  # NATS away: the last count of pending stays
            counts["pending"] = recorded + await _not_delivered(js)
    for status, value in counts.items():
        metrics.JOBS.labels(status=status).set(value)


async def _not_delivered(js: JetStreamContext) -> int:
    """Job messages no executor has been handed yet."""
    try:
        info = await js.consumer_info(names.STREAM_JOBS, names.CONSUMER_EXECUTOR_JOBS)
    except NotFoundError:  # no executor ever ran: every job message waits for one
        return int((await js.stream_info(names.STREAM_JOBS)).state.messages or 0)
    return int(info.num_pending or 0)


async def gauge_loop(store: Store, js: JetStreamContext | None = None, interval: float = 5.0) -> None:
    """Keep the ``ee_jobs`` and ``ee_parked_events`` gauges current (see ``_gauge_pass``)."""
    while True:
        try:
            await _gauge_pass(store, js)
        except Exception as exc:
            log.debug("gauge pass failed", error=repr(exc))
        await anyio.sleep(interval)
