"""bot_grace.lua: every bot's lease runs at least one lease period from now."""

from __future__ import annotations

import pytest

from reactor.outcomes import Count
from tests.support.scripts import open_driver

pytestmark = pytest.mark.anyio


async def test_short_leases_are_extended_never_shortened(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.heartbeat("short", "erp", lease_s=2, at=d.now - 10))
        await d.one(d.heartbeat("fresh", "erp", lease_s=60))
        assert await d.one(d.bot_grace(15.0)) == Count(n=1)
        assert await d.r.zscore(d.keys.bot_leases, "short") == d.now + 2
        assert await d.r.zscore(d.keys.bot_leases, "fresh") == d.now + 60
