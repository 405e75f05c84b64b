"""Bot heartbeats: a bot announces itself to its pool every ``lease_s / 3`` on ``bots.heartbeat.<bot>``.

Each bot beats on its own subject, which the NATS permissions (deploy/nats/engine.conf) let
only that bot's user publish: nobody can keep another bot alive or take it out of its pool.

The reactor keeps a bot in its pool while its lease is fresh; a final beat with
``stopping=true`` takes it out at once when the worker stops.
"""

from __future__ import annotations

from dataclasses import dataclass

import anyio
import structlog
from nats.aio.client import Client as NATS

from shared import names
from shared.messages import BotHeartbeat, encode
from shared.naming import check_name

__all__ = ["BotIdentity", "beat", "heartbeats"]

log = structlog.get_logger("ee.worker.heartbeat")


@dataclass(frozen=True)
class BotIdentity:
    bot: str
    pool: str
    worker: str
    lease_s: float = 15.0
    capacity: int = 1

    def __post_init__(self) -> None:
        check_name("bot", self.bot)  # InvalidName, a ValueError: the worker fails at once
        check_name("pool", self.pool)
        if self.lease_s <= 0:
            raise ValueError(f"bot lease {self.lease_s!r} must be positive")


async def beat(nc: NATS, bot: BotIdentity, *, stopping: bool = False) -> None:
    """Publish one heartbeat (core NATS: a lost one is covered by the next)."""
    message = BotHeartbeat(bot=bot.bot, pool=bot.pool, capacity=bot.capacity, lease_s=bot.lease_s,
                           worker=bot.worker, stopping=stopping)
    try:
        await nc.publish(names.bot_heartbeat_subject(bot.bot), encode(message))
        await nc.flush(timeout=2)
    except Exception as exc:
        log.warning("heartbeat not sent", bot=bot.bot, error=repr(exc))


async def heartbeats(nc: NATS, bot: BotIdentity) -> None:
    """Beat every ``lease_s / 3`` until cancelled."""
    while True:
        await beat(nc, bot)
        await anyio.sleep(bot.lease_s / 3)
