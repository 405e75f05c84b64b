"""finish.lua: the job's events dropped, its bots granted onwards, refusals."""

from __future__ import annotations

import pytest

from reactor.outcomes import Done, Finished, Parked, Stale, Unknown
from shared.messages import ActivityWait, BotLockWait
from tests.support.scripts import open_driver

pytestmark = pytest.mark.anyio


async def test_finish_drops_events_and_passes_bots_on(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.heartbeat("b1", "erp"))
        await d.one(d.start("holder"))
        await d.one(d.park("holder", 0, [BotLockWait(node="l", pool="erp")]))
        await d.one(d.park("holder", 1, [ActivityWait(node="a", activity="demo.echo")], ["holder~1.0"]))
        await d.one(d.start("next"))
        assert isinstance(await d.one(d.park("next", 0, [BotLockWait(node="l", pool="erp")])), Parked)
        out = await d.one(d.finish("holder", 2, "completed"))
        assert isinstance(out, Done) and out.fence == 3 and out.dropped == ["holder~2.0"]
        assert [w.event_id for w in out.wakes] == ["next~1.0"]  # the released bot went to the next job
        assert await d.r.exists(d.keys.event("holder~2.0")) == 0
        assert await d.r.zscore(d.keys.job_status("completed"), "holder") is not None


async def test_refusals(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        assert await d.one(d.finish("nobody", 0, "completed")) == Unknown()
        await d.one(d.start("j"))
        assert await d.one(d.finish("j", 5, "completed")) == Stale(fence=0)
        assert isinstance(await d.one(d.finish("j", None, "cancelled")), Done)  # no fence: a cancel
        assert await d.one(d.finish("j", None, "failed")) == Finished(status="cancelled")
