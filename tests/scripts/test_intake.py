"""intake.lua: a job no executor could start is recorded pending or failed."""

from __future__ import annotations

import pytest

from reactor.outcomes import Recorded, Untouched
from tests.support.scripts import open_driver

pytestmark = pytest.mark.anyio


async def test_pending_then_started_and_refused(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        assert await d.one(d.intake("later", "waiting")) == Recorded(status="pending")
        assert await d.one(d.intake("later", "waiting")) == Recorded(status="pending")
        assert await d.r.xlen(d.keys.job_history("later")) == 1  # one entry per new reason
        await d.one(d.start("later"))
        assert await d.one(d.intake("later", "refused")) == Untouched(status="running")
        assert await d.one(d.intake("never", "refused", "bad workflow")) == Recorded(status="failed")
        assert await d.r.hmget(d.keys.job("never"), ["refused", "error"]) == [b"bad workflow", b"bad workflow"]
