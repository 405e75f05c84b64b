"""bot_lapse.lua: a bot whose lease ran out leaves its pool; one whose lease runs on stays."""

from __future__ import annotations

import pytest

from reactor.outcomes import Wakes
from tests.support.scripts import open_driver

pytestmark = pytest.mark.anyio


async def test_only_a_lapsed_lease_takes_a_bot_out(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.heartbeat("b1", "erp", lease_s=10))
        assert await d.one(d.bot_lapse("b1", at=d.now + 5)) == Wakes()
        assert await d.r.hget(d.keys.bot("b1"), "alive") == b"1"
        await d.one(d.bot_lapse("b1", at=d.now + 11))
        assert await d.r.hmget(d.keys.bot("b1"), ["alive", "down_reason"]) == [b"0", b"lease lapsed"]
        assert await d.r.zscore(d.keys.bot_leases, "b1") is None
