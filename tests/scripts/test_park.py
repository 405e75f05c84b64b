"""park.lua: fence check, new waits, consumed events, refusals before any write."""

from __future__ import annotations

import json

import pytest

from reactor.outcomes import Finished, Foreign, Parked, Stale, Unknown
from shared.messages import ActivityWait, SignalWait
from tests.support.scripts import open_driver

pytestmark = pytest.mark.anyio
GO = SignalWait(node="w", signal="go")


async def test_a_park_raises_the_fence_and_registers_its_waits(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.start("j"))
        assert await d.one(d.park("j", 0, [GO, ActivityWait(node="a", activity="demo.echo", timeout_s=5)])) == \
            Parked(fence=1)
        assert await d.r.hget(d.keys.event("j~1.0"), "signal") == b"go"
        assert await d.r.zscore(d.keys.timers, "j~1.1") == d.now + 5
        assert await d.r.zscore(d.keys.dispatch, "j~1.1") == d.now
        assert await d.r.smembers(d.keys.job_events("j")) == {b"j~1.0", b"j~1.1"}


async def test_refusals(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        assert await d.one(d.park("nobody", 0, [GO])) == Unknown()
        await d.one(d.start("j"))
        await d.one(d.park("j", 0, [GO]))
        assert await d.one(d.park("j", 0, [GO])) == Stale(fence=1)
        await d.one(d.start("other"))
        assert await d.one(d.park("other", 0, [], ["j~1.0"])) == Foreign(event="j~1.0")
        await d.one(d.finish("j", 1, "completed"))
        assert await d.one(d.park("j", 2, [GO])) == Finished(status="completed")


async def test_a_signal_waiting_in_the_inbox_fires_at_once(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.start("j"))
        await d.one(d.signal("j", "go", b'{"ok":true,"output":1}'))
        out = await d.one(d.park("j", 0, [GO]))
        assert isinstance(out, Parked) and [w.event_id for w in out.wakes] == ["j~1.0"]
        assert json.loads(out.wakes[0].result) == {"ok": True, "output": 1}


async def test_an_activity_on_a_bot_not_alive_is_not_dispatched(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.start("j"))
        out = await d.one(d.park("j", 0, [ActivityWait(node="a", activity="demo.echo", bot="gone")]))
        assert isinstance(out, Parked) and out.undispatched == ["j~1.0"]
        assert json.loads(out.wakes[0].result)["error"] == "bot gone is not alive (attempt 1)"
