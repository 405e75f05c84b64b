"""Results first, clocks after: the gate a starting reactor opens once it has caught up.

While no reactor runs, workers keep publishing results to ``EE_RESPONSES`` and the
clocks in Redis (activity timeouts, wake leases, bot leases) keep running. A reactor
that started judging those clocks at once would time out attempts whose results sit
unread in the stream, and fail work for the reactor's own absence. So the loops that
judge clocks (timers, wake leases, bot leases) wait at this gate: it opens once every
result stored before the reactor started has been applied, that is, once
``EE_RESPONSES`` (work-queue retention: a result leaves it when the results loop acks
it after its Redis step) holds nothing at or below the last sequence seen at start.
A result that cannot be applied (Redis refusing it, say) must not hold the clocks for
ever: past ``bound_s`` the gate opens anyway, with a warning.

The results loop itself is untouched (no check per message): the gate polls the
stream's state, a few requests at start.
"""

from __future__ import annotations

import anyio
import structlog
from nats.js import JetStreamContext

from shared import names

__all__ = ["CATCH_UP_BOUND_S", "StartGate"]

log = structlog.get_logger("ee.reactor")

# Longest the clocks wait for the results waiting at start. A reactor SIGKILLed with a
# batch in hand leaves it unacked: JetStream delivers it again after the results ack wait
# (5 s), well inside this.
CATCH_UP_BOUND_S = 30.0


class StartGate:
    """Opened once, when the results waiting at start are applied (or the bound passed)."""

    def __init__(self) -> None:
        self._open = anyio.Event()

    @property
    def is_open(self) -> bool:
        return self._open.is_set()

    async def wait(self) -> None:
        await self._open.wait()

    def open(self) -> None:
        self._open.set()

    async def catch_up(self, js: JetStreamContext, *, bound_s: float = CATCH_UP_BOUND_S,
                       poll_s: float = 0.05) -> bool:
        """Wait until every result stored so far has left ``EE_RESPONSES``, then open.

        Returns False when ``bound_s`` passed first (the gate opens all the same)."""
        started = anyio.current_time()
        mark, waiting = -1, -1
        caught_up = False
        with anyio.move_on_after(bound_s):
            while True:
                try:
                    state = (await js.stream_info(names.STREAM_RESPONSES)).state
                except Exception as exc:  # NATS restarting: keep asking within the bound
                    log.warning("reading EE_RESPONSES at start failed", error=repr(exc))
                else:
                    if mark < 0:
                        mark, waiting = int(state.last_seq), int(state.messages)
                    if int(state.messages) == 0 or int(state.first_seq) > mark:
                        caught_up = True
                        break
                await anyio.sleep(poll_s)
        seconds = round(anyio.current_time() - started, 3)
        if caught_up:
            log.info("results waiting at start applied; timers and leases start", waiting=waiting,
                     seconds=seconds)
        else:
            log.warning("results waiting at start not all applied in time; timers and leases start anyway",
                        waiting=waiting, bound_s=bound_s)
        self.open()
        return caught_up
