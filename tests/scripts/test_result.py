"""result.lua: an activity result fires, retries, or changes nothing."""

from __future__ import annotations

import pytest

from reactor.outcomes import Fired, Ignored, Refused, Retrying
from shared.messages import ActivityWait, SignalWait
from tests.support.scripts import Driver, open_driver

pytestmark = pytest.mark.anyio


async def parked(d: Driver, **retry: float) -> str:
    await d.one(d.start("j"))
    await d.one(d.park("j", 0, [ActivityWait(node="a", activity="demo.echo", **retry)]))  # type: ignore[arg-type]
    return "j~1.0"


async def test_a_result_fires_its_event_once(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        e = await parked(d)
        out = await d.one(d.result(e, 1, True, result=b'{"ok":true,"output":7}'))
        assert isinstance(out, Fired) and out.wake.event_id == e and out.wake.result == '{"ok":true,"output":7}'
        assert out.wake.fence == 1 and out.wake.kind == "activity"
        assert await d.one(d.result(e, 1, True)) == Ignored(reason="late")


async def test_a_failure_with_attempts_left_retries(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        e = await parked(d, max_attempts=2, backoff_s=3)
        assert await d.one(d.result(e, 1, False)) == Retrying(attempt=2)
        assert await d.r.zscore(d.keys.timers, e) == d.now + 3
        assert await d.one(d.result(e, 1, False)) == Ignored(reason="old-attempt")
        assert await d.one(d.result(e, 2, False)) == Ignored(reason="late")  # waiting out its backoff


async def test_what_changes_nothing_and_what_is_refused(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        assert await d.one(d.result("nobody~1.0", 1, True)) == Ignored(reason="unknown")
        e = await parked(d)
        assert await d.one(d.result(e, 2, True)) == Ignored(reason="old-attempt")
        assert await d.one(d.result(e, 1, True, token=False)) == Refused(reason="no attempt token")
        await d.one(d.start("s"))
        await d.one(d.park("s", 0, [SignalWait(node="w", signal="go")]))
        assert await d.one(d.result("s~1.0", 1, True)) == Refused(reason="not an activity event")
