"""The job and parked-event gauges (``ee_jobs``, ``ee_parked_events``), counted every
``EE_GAUGE_INTERVAL_S`` from index sizes, never a scan of every key."""

from __future__ import annotations

import contextlib

import structlog
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from reactor.periodic import every
from reactor.store import Store
from shared import metrics, names

__all__ = ["gauge_loop"]

log = structlog.get_logger("ee.reactor")

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

    async def one_pass() -> None:
        await _gauge_pass(store, js)

    await every(interval, one_pass, log=log, failed="gauge pass failed", quiet=True)
