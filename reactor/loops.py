"""The reactor's background work: results in, timers, wake leases, the dispatch sweep."""

from __future__ import annotations

import contextlib
from typing import Any

import anyio
import msgspec
import structlog
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.errors import FetchTimeoutError, NotFoundError

from reactor.catch_up import StartGate
from reactor.dispatch import Dispatcher
from reactor.operations import Operations
from reactor.store import Store, WakeData
from shared import clock, metrics, names
from shared.bounds import bounded_text
from shared.consume import durable_push
from shared.errors import EngineError, InvalidMessage, JobNotFound
from shared.failpoints import failpoint
from shared.messages import ActivityResult, CancelRequest, Codec
from shared.poison import given_up
from shared.streams import consumer_config

__all__ = ["cancel_loop", "dispatch_sweep", "gauge_loop", "lease_loop", "refuse", "results_loop", "timer_loop"]

log = structlog.get_logger("ee.reactor")
_json = msgspec.json.Encoder()
_results = Codec(ActivityResult, names.ACTIVITY_RESPONSE)
_cancels = Codec(CancelRequest, names.JOBS_CANCEL)

TIMEOUT_RESULTS = {
    b"signal": _json.encode({"ok": False, "error": "signal wait timed out"}),
    b"bot_lock": _json.encode({"ok": False, "error": "timed out waiting for a bot"}),
}


def _wake(reply: Any) -> WakeData | None:
    if isinstance(reply, Exception):
        raise reply
    if reply and int(reply[0]) == 1:
        return WakeData.from_reply(reply)
    return None


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
        now = clock.now()
        calls: list[tuple[Any, Any]] = []
        for msg in msgs:
            if msg.metadata.num_delivered > 1:
                metrics.REDELIVERIES.labels(stream=names.STREAM_RESPONSES).inc()
            try:
                res = _results.decode(msg.data, max_payload)
                payload = _json.encode({"ok": res.ok, "output": res.output, "error": res.error})
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
            calls.append((msg, store.result_args(res.event_id, res.attempt, res.ok, payload,
                                                 res.error or "", now, token=bool(res.token))))
        if not calls:
            continue
        try:
            replies = await store.scripts.call_many(store.redis, [("result", a) for _, a in calls])
        except Exception as exc:
            log.warning("storing results failed; they will be redelivered", error=repr(exc))
            for msg, _ in calls:
                await msg.nak(delay=1.0)
            continue
        await failpoint("results-committed")
        wakes = []
        for (msg, _), reply in zip(calls, replies, strict=True):
            if isinstance(reply, Exception):
                if given_up(msg, reply):
                    await refuse(store, names.ACTIVITY_RESPONSE, reply, msg)
                else:
                    log.warning("result not stored; it will be redelivered", error=bounded_text(str(reply)))
                    await msg.nak(delay=1.0)
                continue
            code = int(reply[0])
            if code == -1:
                await _refuse_result(store, msg.data, _results.decode(msg.data), _s(reply[1]))
            elif code == 0:
                metrics.DUPLICATE_RESULTS.inc()
            elif code == 1:
                wakes.append(WakeData.from_reply(reply))
        await dispatcher.wakes(wakes)
        for msg, _ in calls:
            await msg.ack()


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


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
                kinds = await _kinds(store, due)
                replies = await store.scripts.call_many(store.redis, [
                    ("timer", store.timer_args(e, TIMEOUT_RESULTS.get(k or b"", b"null"), now))
                    for e, k in zip(due, kinds, strict=True)])
                wakes, redo = [], []
                for event_id, reply in zip(due, replies, strict=True):
                    if isinstance(reply, Exception):
                        log.warning("timer failed", event_id=event_id, error=str(reply))
                    elif int(reply[0]) == 1:
                        wakes.append(WakeData.from_reply(reply))
                    elif int(reply[0]) == 3:
                        redo.append(event_id)
                await dispatcher.wakes(wakes)
                await dispatcher.redispatch(redo)
                if len(due) >= 500:
                    continue
        except Exception as exc:
            log.warning("timer pass failed", error=repr(exc))
            await anyio.sleep(0.5)
        await anyio.sleep(interval)


async def _kinds(store: Store, events: list[str]) -> list[bytes | None]:
    pipe = store.redis.pipeline(transaction=False)
    for event_id in events:
        pipe.hget(store.keys.event(event_id), "kind")
    return list(await pipe.execute())


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
                replies = await store.scripts.call_many(
                    store.redis, [("lease", store.lease_args(j, now, True)) for j in due])
                wakes = [w for w in map(Operations.store_wake, replies) if w is not None]
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
            horizon = "+inf" if first else repr(clock.now() - grace_s)
            members = await store.redis.zrangebyscore(store.keys.dispatch, "-inf", horizon,
                                                      start=0, num=1000)
            if members:
                sent = await dispatcher.redispatch([m.decode() if isinstance(m, bytes) else str(m) for m in members])
                if sent:
                    log.info("re-dispatched activities", count=sent)
                if len(members) == 1000:
                    continue
            first = False
        except Exception as exc:
            log.warning("dispatch sweep failed", error=repr(exc))
        await anyio.sleep(interval)


async def cancel_loop(js: JetStreamContext, store: Store, ops: Operations, max_payload: int) -> None:
    """Cancellations published to ``jobs.cancel`` (durable: kept while the reactor is down).

    A cancel may overtake its job (both are on the ``EE_JOBS`` stream, read by different
    services): for a job not created yet it records the job as cancelled, and the job's
    start then finds it so and nothing runs.
    """
    sub = await _pull(js, names.STREAM_JOBS, names.JOBS_CANCEL, names.CONSUMER_REACTOR_CANCEL, max_payload)
    while True:
        try:
            msgs = await sub.fetch(batch=64, timeout=1.0)
        except (FetchTimeoutError, NatsTimeout, TimeoutError):
            continue
        except Exception as exc:
            log.warning("fetching cancels failed", error=repr(exc))
            await anyio.sleep(0.5)
            continue
        for msg in msgs:
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
    keys = store.keys
    pipe = store.redis.pipeline(transaction=True)  # one consistent snapshot of the sizes
    for kind in names.EVENT_KINDS:
        pipe.zcard(keys.event_index(kind))
    pipe.zcard(keys.jobs)
    pipe.zcard(keys.job_status("pending"))
    pipe.zcard(keys.wakes)
    pipe.zrange(keys.wakes, 0, _GAUGE_SAMPLE - 1)
    *open_events, total_jobs, recorded_pending, total_waking, sample = await pipe.execute()
    pipe = store.redis.pipeline(transaction=False)
    for job_id in sample:
        pipe.hmget(keys.job(job_id.decode()), ["status", "wake_event", "stranded"])
    jobs = await pipe.execute()
    fired = [w.decode() for status, w, _ in jobs if status == b"parked" and w]
    pipe = store.redis.pipeline(transaction=False)
    for event_id in fired:
        pipe.hmget(keys.event(event_id), ["kind", "status"])
    fired_kinds = [k.decode() for k, st in await pipe.execute() if k and st == b"fired"]
    scale = total_waking / len(sample) if sample else 0.0
    running = round(scale * sum(1 for status, _, _ in jobs if status == b"running"))
    waking = round(scale * len(fired_kinds))
    stranded = round(scale * sum(1 for _, _, why in jobs if why))
    parked = 0
    for kind, count in zip(names.EVENT_KINDS, open_events, strict=True):
        waiting = max(0, int(count) - round(scale * fired_kinds.count(kind)))
        metrics.PARKED_EVENTS.labels(kind=kind).set(waiting)
        parked += waiting
    # A pending record (an executor that could not read the workflow left the job for another)
    # is a job hash in the jobs index too, but not a finished job.
    recorded = int(recorded_pending)
    counts = {"running": running, "parked": parked, "waking": waking, "stranded": stranded,
              "finished": max(0, int(total_jobs) - recorded - running - parked - waking)}
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
