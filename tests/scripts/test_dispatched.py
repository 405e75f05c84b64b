"""dispatched.lua: an acknowledged task's event leaves the dispatch set, only while it still
waits on the attempt that was sent; an event no longer parked leaves it whatever the attempt."""

from __future__ import annotations

import pytest

from reactor.outcomes import Count, Redispatch, Retrying
from shared.messages import ActivityWait
from tests.support.scripts import open_driver

pytestmark = pytest.mark.anyio

RETRIED = ActivityWait(node="a", activity="demo.echo", timeout_s=1, max_attempts=2, backoff_s=2)


async def test_an_acknowledged_attempt_leaves_the_dispatch_set(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.start("j"))
        await d.one(d.park("j", 0, [ActivityWait(node="a", activity="demo.echo")]))
        assert await d.r.zscore(d.keys.dispatch, "j~1.0") == d.now
        assert await d.one(d.dispatched(("j~1.0", 1))) == Count(n=1)
        assert await d.r.zscore(d.keys.dispatch, "j~1.0") is None
        assert await d.one(d.dispatched(("j~1.0", 1))) == Count(n=0)  # again: nothing left to take out


async def test_a_late_acknowledgement_leaves_the_next_attempt_to_the_sweep(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.start("j"))
        await d.one(d.park("j", 0, [RETRIED]))
        assert await d.one(d.timer("j~1.0", at=d.now + 1)) == Retrying(attempt=2)
        assert await d.one(d.timer("j~1.0", at=d.now + 3)) == Redispatch()  # attempt 2 back in the set
        assert await d.one(d.dispatched(("j~1.0", 1))) == Count(n=0)
        assert await d.r.zscore(d.keys.dispatch, "j~1.0") == d.now + 3
        assert await d.one(d.dispatched(("j~1.0", 2))) == Count(n=1)


async def test_an_event_no_longer_parked_leaves_whatever_the_attempt(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.start("j"))
        await d.one(d.park("j", 0, [ActivityWait(node="a", activity="demo.echo")]))
        await d.r.zadd(d.keys.dispatch, {"gone~1.0": 1.0})  # an event purged meanwhile
        await d.r.hset(d.keys.event("j~1.0"), "status", "fired")
        assert await d.one(d.dispatched(("j~1.0", 0), ("gone~1.0", 0))) == Count(n=2)
        assert await d.r.zcard(d.keys.dispatch) == 0
