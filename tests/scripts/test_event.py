"""event.lua: an operator resolves, fails or extends a parked wait."""

from __future__ import annotations

import pytest

from reactor.outcomes import Extended, Fired, InBackoff, NotParked, Retrying, Unknown
from shared.messages import ActivityWait, SignalWait
from tests.support.scripts import open_driver

pytestmark = pytest.mark.anyio


async def test_extend_then_resolve(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        assert await d.one(d.event("nobody~1.0", "resolve")) == Unknown()
        await d.one(d.start("j"))
        await d.one(d.park("j", 0, [SignalWait(node="w", signal="go", timeout_s=5)]))
        assert await d.one(d.event("j~1.0", "extend", timeout_s=30)) == Extended()
        assert await d.r.zscore(d.keys.timers, "j~1.0") == d.now + 30
        out = await d.one(d.event("j~1.0", "resolve", result=b'{"ok":true,"output":"by hand"}'))
        assert isinstance(out, Fired) and out.wake.result == '{"ok":true,"output":"by hand"}'
        assert await d.r.hget(d.keys.job("j"), "signal:go") is None
        assert await d.one(d.event("j~1.0", "fail")) == NotParked(status="fired")


async def test_extend_of_a_backoff_is_refused(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.start("j"))
        await d.one(d.park("j", 0, [ActivityWait(node="a", activity="demo.echo", max_attempts=2, backoff_s=4)]))
        assert await d.one(d.result("j~1.0", 1, False)) == Retrying(attempt=2)
        assert await d.one(d.event("j~1.0", "extend", timeout_s=30)) == InBackoff(attempt=2, retry_at=d.now + 4)
