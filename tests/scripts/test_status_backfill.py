"""status_backfill.lua: the status indexes filled with older jobs, in steps, once."""

from __future__ import annotations

import pytest

from reactor.outcomes import Step
from tests.support.scripts import open_driver

pytestmark = pytest.mark.anyio


async def test_steps_until_done(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.many([d.start(f"j{i}") for i in range(5)])
        await d.r.delete(d.keys.job_status("running"))  # as an older build left them
        assert await d.one(d.status_backfill(3)) == Step(read=3, added=3)
        assert await d.one(d.status_backfill(3)) == Step(read=2, added=2)
        assert await d.r.get(d.keys.job_status_backfill) == b"done"
        assert await d.one(d.status_backfill(3)) == Step(read=0, added=0)
        assert await d.r.zcard(d.keys.job_status("running")) == 5
