"""`ee events --activity/--pool/--bot/--older-than` answer from indexes, complete at any size.

Waits are parked through the reactor's own scripts (many waits per park, chosen park times),
so thousands cost a few script calls and no services; ``ee events`` then reads Redis."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis

from reactor.outcomes import Done, Parked
from reactor.scripts import Call
from shared.messages import ActivityWait, BotLockWait, TimerWait, Wait
from tests.support.scripts import Driver
from tests.support.stack import Stack

HOUR = 3600.0


def ee_events(stack: Stack, *args: str) -> set[str]:
    out = subprocess.run([sys.executable, "-m", "ee", "events", "--json", *args], env=stack.env(),
                         capture_output=True, text=True, timeout=30, check=True)
    return {e["event_id"] for e in json.loads(out.stdout)}


class Scripts:
    """The reactor's scripts on one Redis, with chosen clock readings (a connection per call)."""

    def __init__(self, stack: Stack) -> None:
        self.url = stack.redis.url
        self.prefix = stack.prefix
        self.now = time.time()

    async def _one(self, build: Callable[[Driver], Call[Any]]) -> Any:
        r = aioredis.from_url(self.url)
        try:
            d = Driver(r, self.prefix, now=self.now)
            return await d.one(build(d))
        finally:
            await r.aclose()

    async def park(self, job_id: str, waits: list[Wait], at: float) -> list[str]:
        await self._one(lambda d: d.start(job_id))
        out = await self._one(lambda d: d.park(job_id, 0, waits, at=at))
        assert isinstance(out, Parked) and not out.undispatched, out
        return [f"{job_id}~1.{i}" for i in range(len(waits))]

    async def heartbeat(self, bot: str, pool: str) -> None:
        await self._one(lambda d: d.heartbeat(bot, pool, lease_s=HOUR))

    async def finish(self, job_id: str, fence: int | None) -> None:
        out = await self._one(lambda d: d.finish(job_id, fence, "cancelled"))
        assert isinstance(out, Done) and out.fence == (fence or 1) + 1, out


def test_events_filters_are_complete_beyond_a_thousand_waits(stack: Stack) -> None:
    d = Scripts(stack)
    old, new = d.now - 2 * HOUR, d.now

    def activities(n: int, activity: str, bot: str | None = None) -> list[Wait]:
        return [ActivityWait(node="w", activity=activity, bot=bot) for _ in range(n)]

    async def setup() -> dict[str, list[str]]:
        await d.heartbeat("b1", "erp")
        return {
            # The oldest 1,100 activity waits are of another activity: a read of the oldest
            # thousand of a kind, filtered afterwards, would find none of A's.
            "other": await d.park("other", activities(1100, "other"), old - 10),
            "a-old": await d.park("a-old", activities(30, "A"), old),
            "a-new": await d.park("a-new", activities(20, "A"), new),
            "a-bot": await d.park("a-bot", activities(15, "A", bot="b1"), old + 1),
            "locks": await d.park("locks", [BotLockWait(node="w", pool="busy") for _ in range(40)], old + 2),
            "nap": await d.park("nap", [TimerWait(node="w", seconds=HOUR) for _ in range(5)], new),
        }

    ids = asyncio.run(setup())

    def of(*jobs: str) -> set[str]:
        return {e for j in jobs for e in ids[j]}

    assert ee_events(stack, "--activity", "A") == of("a-old", "a-new", "a-bot")
    assert ee_events(stack, "--pool", "busy") == of("locks")
    assert ee_events(stack, "--bot", "b1") == of("a-bot")
    assert ee_events(stack, "--older-than", "1h") == of("other", "a-old", "a-bot", "locks")
    inspector = stack.inspector()
    everything = inspector.events()
    assert {e["event_id"] for e in everything} == of(*ids)
    assert {e["event_id"] for e in everything[:1100]} == of("other")  # oldest parked first
    assert {e["event_id"] for e in inspector.events(activity="A", older_than_s=HOUR)} == of("a-old", "a-bot")
    assert {e["event_id"] for e in inspector.events(activity="A", bot="b1")} == of("a-bot")
    assert inspector.events(activity="A", pool="busy") == []
    assert len(inspector.events(kind="activity", activity="other", limit=7)) == 7

    # A bot granted to a lock request puts that (now fired) request in the bot's index too.
    asyncio.run(d.heartbeat("b2", "busy"))
    granted = ids["locks"][0]
    assert ee_events(stack, "--bot", "b2") == {granted}
    assert [e["status"] for e in inspector.events(bot="b2")] == ["fired"]
    assert ee_events(stack, "--pool", "busy") == of("locks")

    async def finish_all() -> None:
        await d.finish("a-new", 1)
        for job_id in ids:
            if job_id != "a-new":
                await d.finish(job_id, None)

    asyncio.run(finish_all())
    assert stack.event_index_keys() == {}
    assert inspector.events() == []
