"""Bots: heartbeats keep a bot in its pool; a lapsed lease takes it out.

Heartbeats are core NATS messages, lost while no reactor listens. A lease lapses only
for heartbeats missed while a reactor was listening: whenever it may have missed some
(it has just started, NATS was disconnected, a heartbeat could not be stored in Redis)
every bot gets one lease period from then before its lease is judged (``grace`` in
``bot_grace.lua``). A bot whose lease really lapsed while it ran an attempt (cut off from NATS
longer than its lease) loses that attempt to a retry only if it does not come back holding
it: its heartbeats list the attempts it holds, and one of those resumes unless a later
attempt was dispatched meanwhile (``lapse_attempt`` in ``lua/lib/wakes.lua``, the held attempts in
``heartbeat.lua``). See docs/guarantees.md.

Beats arrive on each bot's own subject (``bots.heartbeat.<bot>``, publishable only by that
bot's user) and must name that bot. The legacy shared ``bots.heartbeat`` is still heard, for
workers older than per-bot subjects; the shipped NATS permissions let nobody publish to it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from anyio.abc import TaskGroup
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from reactor.catch_up import StartGate
from reactor.dispatch import Dispatcher
from reactor.periodic import every
from reactor.store import Store
from shared import clock, metrics, names
from shared.bounds import bounded_text
from shared.errors import InvalidMessage, InvalidName
from shared.messages import BotHeartbeat, Codec
from shared.naming import check_name

__all__ = ["DEFAULT_BOT_LEASE_S", "Hearing", "bot_lease_loop", "heartbeat_handler"]

log = structlog.get_logger("ee.reactor.bots")
_heartbeats = Codec(BotHeartbeat, names.BOTS_HEARTBEAT)

# The lease of a bot whose heartbeats never said theirs (stored by an older reactor).
DEFAULT_BOT_LEASE_S = 15.0
# Attempts of one heartbeat's ``holding`` looked at (a bot runs one activity at a time).
MAX_HOLDING = 64


class Hearing:
    """Whether the reactor may have missed heartbeats since leases were last extended.

    Missed from the start (nobody listened before this reactor), while ``nc`` is not
    connected, and whenever a heartbeat could not be stored."""

    def __init__(self, nc: NATS | None = None) -> None:
        self._nc = nc
        self._marks = 1  # before this reactor started, nobody listened
        self._covered = 0
        self._cut_off = False

    def missed(self) -> None:
        self._marks += 1

    def deaf(self) -> int | None:
        """A mark to pass to :meth:`covered` once leases were extended, or None when nothing was missed."""
        if self._nc is not None and not self._nc.is_connected:
            self._marks += 1
            self._cut_off = True
        elif self._cut_off:  # reconnected since the last pass: once more, from now
            self._marks += 1
            self._cut_off = False
        return self._marks if self._marks != self._covered else None

    def covered(self, mark: int) -> None:
        self._covered = mark


def heartbeat_handler(tg: TaskGroup, store: Store, dispatcher: Dispatcher,
                      hearing: Hearing | None = None) -> Callable[[Msg], Awaitable[None]]:
    async def apply(msg: Msg) -> None:
        try:
            beat = _heartbeats.decode(msg.data)
            check_name("bot", beat.bot)
            check_name("pool", beat.pool)
            owner = names.heartbeat_bot(msg.subject)
            if owner is not None and owner != beat.bot:
                # Only the bot's own user may publish its subject: a beat there for another bot
                # is forged (it would keep that bot alive or take it out of its pool).
                raise InvalidMessage(msg.subject, f"heartbeat for bot {beat.bot[:100]!r} on the subject "
                                     f"of bot {owner[:100]!r}")
        except (InvalidMessage, InvalidName) as exc:
            metrics.DEADLETTERS.labels(subject=names.BOTS_HEARTBEAT).inc()
            await store.deadletter(names.BOTS_HEARTBEAT, bounded_text(str(exc)), msg.data)
            return
        try:
            wakes = await store.heartbeat(beat.bot, beat.pool, beat.worker, beat.lease_s, beat.stopping,
                                          beat.holding[:MAX_HOLDING])
        except Exception as exc:
            if hearing is not None:
                hearing.missed()
            log.warning("heartbeat not stored", bot=bounded_text(beat.bot, 80), error=bounded_text(repr(exc)))
            return
        await dispatcher.wakes(wakes)

    async def guarded(msg: Msg) -> None:
        # A heartbeat runs in the reactor's own task group: whatever one message does, it
        # must not take the group (the reactor) down with it.
        try:
            await apply(msg)
        except Exception as exc:
            log.warning("heartbeat not applied", error=bounded_text(repr(exc)))

    async def handle(msg: Msg) -> None:
        tg.start_soon(guarded, msg)

    return handle


async def bot_lease_loop(store: Store, dispatcher: Dispatcher, gate: StartGate | None = None,
                         hearing: Hearing | None = None, interval: float = 0.5) -> None:
    """Take bots whose heartbeat lease lapsed out of their pools.

    Not before ``gate`` opens (results waiting at start applied first), and each pass
    after the reactor may have missed heartbeats first extends every lease (``Hearing``)."""
    heard = hearing or Hearing()

    async def one_pass() -> None:
        now = clock.now()
        mark = heard.deaf()
        if mark is not None:
            extended = await store.extend_bot_leases(now, DEFAULT_BOT_LEASE_S)
            heard.covered(mark)
            if extended:
                log.info("bot leases extended: heartbeats may have been missed while not listening",
                         bots=extended)
        for bot in await store.due(store.keys.bot_leases, now):
            log.warning("bot lease lapsed; taking it out of its pool", bot=bot)
            await dispatcher.wakes(await store.bot_lapse(bot))

    def failed(exc: Exception) -> None:
        heard.missed()  # Redis out: the heartbeats meanwhile are not stored either

    await every(interval, one_pass, log=log, failed="bot lease pass failed", gate=gate, on_failure=failed)
