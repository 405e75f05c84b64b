"""Wake leases: a wake whose lease (``ee:wakes``) ran out without a park or a finish is
offered again (``lease`` script: with backoff, and the job marked stranded after
``EE_STRAND_AFTER`` lapses)."""

from __future__ import annotations

import structlog

from reactor.catch_up import StartGate
from reactor.dispatch import Dispatcher
from reactor.periodic import every
from reactor.store import Store
from shared import clock

__all__ = ["lease_loop"]

log = structlog.get_logger("ee.reactor")


async def lease_loop(store: Store, dispatcher: Dispatcher, gate: StartGate | None = None,
                     interval: float = 0.25) -> None:
    """Offer again the wakes whose lease ran out without a park or finish.

    Not before ``gate`` opens: by then the start-up redrive has offered every pending
    wake under a fresh lease, so a lease that ran out while no reactor ran (an executor
    could not park meanwhile) does not count as a lapse against the job."""

    async def one_pass() -> None:
        now = clock.now()
        due = await store.due(store.keys.wakes, now)
        if due:
            wakes = await store.offer_again(due, now, lapsed=True)
            if wakes:
                log.info("wake leases lapsed; offering again", count=len(wakes))
            await dispatcher.wakes(wakes)

    await every(interval, one_pass, log=log, failed="lease pass failed", backoff_s=0.5, gate=gate)
