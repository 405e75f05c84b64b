"""timer.lua: a due timer has one winner and acts by kind and phase."""

from __future__ import annotations

import json

import pytest

from reactor.outcomes import Fired, Nothing, Redispatch, Retrying
from shared.messages import ActivityWait, SignalWait, TimerWait
from tests.support.scripts import open_driver

pytestmark = pytest.mark.anyio


async def test_a_sleep_fires_once(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.start("j"))
        await d.one(d.park("j", 0, [TimerWait(node="w", seconds=1)]))
        out = await d.one(d.timer("j~1.0", at=d.now + 1))
        assert isinstance(out, Fired) and out.wake.result == '{"ok":true}'
        assert await d.one(d.timer("j~1.0", at=d.now + 1)) == Nothing()


async def test_a_wait_times_out_with_the_result_given(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.start("j"))
        await d.one(d.park("j", 0, [SignalWait(node="w", signal="go", timeout_s=1)]))
        assert await d.one(d.timer("j~1.0", at=d.now + 0.5)) == Nothing()  # not due yet: left as it is
        out = await d.one(d.timer("j~1.0", timeout_result=b'{"ok":false,"error":"late"}', at=d.now + 1))
        assert isinstance(out, Fired) and json.loads(out.wake.result) == {"ok": False, "error": "late"}


async def test_an_activity_times_out_retries_then_is_sent_again(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.start("j"))
        await d.one(d.park("j", 0, [ActivityWait(node="a", activity="demo.echo", timeout_s=1, max_attempts=2,
                                                 backoff_s=2)]))
        assert await d.one(d.timer("j~1.0", at=d.now + 1)) == Retrying(attempt=2)
        assert await d.one(d.timer("j~1.0", at=d.now + 3)) == Redispatch()
        assert await d.r.hget(d.keys.event("j~1.0"), "phase") == b"running"
        assert await d.r.zscore(d.keys.dispatch, "j~1.0") == d.now + 3
