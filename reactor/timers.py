"""Timers: due members of ``ee:timers`` through the ``timer`` script.

A timer fires a sleep, times out a wait, times out an activity attempt or ends a retry
backoff (the next attempt is then dispatched); a human task's due time runs ``task_due``
instead (``Store.fire_timers`` picks the script by the event's kind)."""

from __future__ import annotations

import structlog

from reactor.catch_up import StartGate
from reactor.dispatch import Dispatcher
from reactor.outcomes import Fired, Redispatch
from reactor.periodic import every
from reactor.store import Store
from shared import clock

__all__ = ["BATCH", "timer_loop"]

log = structlog.get_logger("ee.reactor")

BATCH = 500  # Store.due's default limit: a pass that read this many runs again at once


async def timer_loop(store: Store, dispatcher: Dispatcher, gate: StartGate | None = None,
                     interval: float = 0.05) -> None:
    """Fire due timers: sleeps, wait timeouts, activity timeouts and retry backoffs.

    Not before ``gate`` opens: a timeout that fell due while no reactor ran is judged
    only after the results waiting in the stream were applied (``reactor.catch_up``)."""

    async def one_pass() -> bool:
        now = clock.now()
        due = await store.due(store.keys.timers, now, BATCH)
        if not due:
            return False
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
        return len(due) >= BATCH

    await every(interval, one_pass, log=log, failed="timer pass failed", backoff_s=0.5, gate=gate)
