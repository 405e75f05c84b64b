"""The reactor's periodic loops, run one way: a pass every ``interval_s``, again at once
while a pass says more is due, a failed pass logged and waited out.

Every clock the reactor walks (timers, wake leases, bot leases, the dispatch sweep,
delayed starts, deadlines, schedules, the retention sweep, the gauges) is one pass
function handed to :func:`every`: read the due members of a clock, run their script,
send the wakes. The loop around it lives here only.

A pass that fails (Redis away, say) is not retried on the spot: the next pass, one
``backoff_s`` plus ``interval_s`` later, reads the clock afresh and picks up whatever
the failed one left, since every script a pass runs is idempotent. That is why this is
a plain loop and not tenacity (``shared/retry.py``): there is no call to retry with a
growing pause until it succeeds or patience runs out, only a fixed beat that goes on for
the reactor's lifetime, with one fixed pause after a failure.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import NoReturn

import anyio
import anyio.lowlevel
from structlog.typing import FilteringBoundLogger

from reactor.catch_up import StartGate
from shared.bounds import bounded_text

__all__ = ["Pass", "every"]

Pass = Callable[[], Awaitable[bool | None]]
"""One pass of a loop; True when it found a full batch (more is due: run again at once)."""


async def every(interval_s: float, one_pass: Pass, *, log: FilteringBoundLogger, failed: str, backoff_s: float = 0.0,
                gate: StartGate | None = None, on_failure: Callable[[Exception], None] | None = None,
                quiet: bool = False) -> NoReturn:
    """Run ``one_pass`` for ever, not before ``gate`` opens.

    After a pass that returns True the next runs at once; after any other, ``interval_s``
    later. A pass that raises is told to ``on_failure`` first, logged as ``failed`` (with
    ``log``, at debug level when ``quiet``) with the error's type and text bounded, and
    followed by ``backoff_s`` of pause before the usual ``interval_s``."""
    if gate is not None:
        await gate.wait()
    report = log.debug if quiet else log.warning
    while True:
        try:
            if await one_pass():
                # A full batch: more is due now. The checkpoint keeps a clock that stays full
                # from starving the rest of the reactor (and lets a cancel in).
                await anyio.lowlevel.checkpoint()
                continue
        except Exception as exc:
            if on_failure is not None:
                on_failure(exc)
            report(failed, error=bounded_text(f"{type(exc).__name__}: {exc}"))
            await anyio.sleep(backoff_s)
        await anyio.sleep(interval_s)
