"""Bot heartbeats: a bot announces itself to its pool every ``lease_s / 3`` on ``bots.heartbeat.<bot>``.

Each bot beats on its own subject, which the NATS permissions (deploy/nats/engine.conf) let
only that bot's user publish: nobody can keep another bot alive or take it out of its pool.

The reactor keeps a bot in its pool while its lease is fresh; a final beat with
``stopping=true`` takes it out at once when the worker stops. Each beat lists the attempts
the worker holds (:class:`Holdings`): a reactor that took the bot for lost while it was cut
off lets those go on rather than running their retry beside them.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import anyio
import structlog
from nats.aio.client import Client as NATS

from shared import names
from shared.bounds import MAX_BOT_CAPACITY, MAX_BOT_LEASE_S
from shared.messages import BotHeartbeat, encode
from shared.naming import check_name

__all__ = ["BotIdentity", "Holdings", "beat", "heartbeats"]

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
        if not 0 < self.lease_s <= MAX_BOT_LEASE_S:
            raise ValueError(f"bot lease {self.lease_s!r} must be positive and at most {MAX_BOT_LEASE_S:g} s")
        if not 1 <= self.capacity <= MAX_BOT_CAPACITY:
            raise ValueError(f"bot capacity {self.capacity!r} must be 1 to {MAX_BOT_CAPACITY}")


Key = tuple[str, int]  # (event id, attempt)


class Holdings:
    """The attempts a worker holds: claimed and not reported yet, or reported within the last
    ``keep_s`` (the result may still be on its way to the reactor, behind the heartbeat that
    no longer lists it). The newest ``listed`` of them go in each heartbeat."""

    def __init__(self, keep_s: float, listed: int = 32, remembered: int = 1000) -> None:
        self.keep_s = keep_s
        self.listed = listed
        self.remembered = remembered
        self._held: OrderedDict[Key, float | None] = OrderedDict()  # reported at (monotonic), None: not yet

    def claimed(self, key: Key) -> None:
        self._held[key] = None
        self._held.move_to_end(key)
        while len(self._held) > self.remembered:
            self._held.popitem(last=False)

    def reported(self, key: Key) -> None:
        if key in self._held:
            self._held[key] = time.monotonic()

    def now(self) -> list[Key]:
        horizon = time.monotonic() - self.keep_s
        for key in [k for k, at in self._held.items() if at is not None and at < horizon]:
            del self._held[key]
        return list(self._held)[-self.listed:]


async def beat(nc: NATS, bot: BotIdentity, *, stopping: bool = False,
               holding: Callable[[], list[Key]] | None = None) -> None:
    """Publish one heartbeat (core NATS: a lost one is covered by the next)."""
    message = BotHeartbeat(bot=bot.bot, pool=bot.pool, capacity=bot.capacity, lease_s=bot.lease_s,
                           worker=bot.worker, stopping=stopping, holding=holding() if holding else [])
    try:
        await nc.publish(names.bot_heartbeat_subject(bot.bot), encode(message))
        await nc.flush(timeout=2)
    except Exception as exc:
        log.warning("heartbeat not sent", bot=bot.bot, error=repr(exc))


async def heartbeats(nc: NATS, bot: BotIdentity, holding: Callable[[], list[Key]] | None = None) -> None:
    """Beat every ``lease_s / 3`` until cancelled."""
    while True:
        await beat(nc, bot, holding=holding)
        await anyio.sleep(bot.lease_s / 3)
