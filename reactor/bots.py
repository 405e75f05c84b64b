"""Bots: heartbeats keep a bot in its pool; a lapsed lease takes it out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
import structlog
from anyio.abc import TaskGroup
from nats.aio.msg import Msg

from reactor.dispatch import Dispatcher
from reactor.store import Store
from shared import clock, metrics, names
from shared.errors import InvalidMessage, InvalidName
from shared.messages import BotHeartbeat, Codec
from shared.naming import check_name

__all__ = ["bot_lease_loop", "heartbeat_handler"]

log = structlog.get_logger("ee.reactor.bots")
_heartbeats = Codec(BotHeartbeat, names.BOTS_HEARTBEAT)


def heartbeat_handler(tg: TaskGroup, store: Store, dispatcher: Dispatcher) -> Callable[[Msg], Awaitable[None]]:
    async def apply(msg: Msg) -> None:
        try:
            beat = _heartbeats.decode(msg.data)
            check_name("bot", beat.bot)
            check_name("pool", beat.pool)
        except (InvalidMessage, InvalidName) as exc:
            metrics.DEADLETTERS.labels(subject=names.BOTS_HEARTBEAT).inc()
            await store.deadletter(names.BOTS_HEARTBEAT, str(exc), msg.data)
            return
        now = clock.now()
        try:
            wakes = await store.bot_call("heartbeat", beat.bot, beat.pool, beat.worker,
                                         repr(now + beat.lease_s), "1" if beat.stopping else "0", repr(now))
        except Exception as exc:
            log.warning("heartbeat not stored", bot=beat.bot, error=repr(exc))
            return
        await dispatcher.wakes(wakes)

    async def handle(msg: Msg) -> None:
        tg.start_soon(apply, msg)

    return handle


async def bot_lease_loop(store: Store, dispatcher: Dispatcher, interval: float = 0.5) -> None:
    """Take bots whose heartbeat lease lapsed out of their pools."""
    while True:
        try:
            now = clock.now()
            for bot in await store.due(store.keys.bot_leases, now):
                log.warning("bot lease lapsed; taking it out of its pool", bot=bot)
                await dispatcher.wakes(await store.bot_call("lapse", bot, repr(now)))
        except Exception as exc:
            log.warning("bot lease pass failed", error=repr(exc))
        await anyio.sleep(interval)
