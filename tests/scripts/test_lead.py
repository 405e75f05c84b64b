"""lead_take, lead_renew, lead_release and the prelude's fence: one reactor holds the lease,
and a script call that names another lease is refused before it writes anything."""

from __future__ import annotations

import pytest

from reactor import contracts
from reactor.outcomes import Held, Ok, Taken
from shared.errors import LeaseLost
from tests.support.scripts import open_driver

pytestmark = pytest.mark.anyio


async def test_lease_taken_once_renewed_and_released(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        first = await d.one(contracts.lead_take(d.keys, instance="a", ttl_ms=5000))
        assert first == Taken(epoch=1, lease="1:a")
        held = await d.one(contracts.lead_take(d.keys, instance="b", ttl_ms=5000))
        assert isinstance(held, Held) and held.holder == "1:a" and 0 < held.ttl_ms <= 5000
        d.book.lease = "1:a"
        assert await d.one(contracts.lead_renew(d.keys, ttl_ms=60_000)) == Ok()
        assert await d.r.pttl(d.keys.reactor_leader) > 5000
        assert await d.one(contracts.lead_release(d.keys)) == Ok()
        assert await d.r.get(d.keys.reactor_leader) is None
        d.book.lease = ""
        assert await d.one(contracts.lead_take(d.keys, instance="b", ttl_ms=5000)) == Taken(epoch=2, lease="2:b")


async def test_a_stale_lease_is_fenced_and_writes_nothing(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(contracts.lead_take(d.keys, instance="old", ttl_ms=5000))
        await d.r.delete(d.keys.reactor_leader)  # the old reactor's lease ran out ...
        await d.one(contracts.lead_take(d.keys, instance="new", ttl_ms=5000))  # ... and a standby took over
        d.book.lease = "1:old"
        with pytest.raises(LeaseLost) as lost:
            await d.one(d.start("j"))
        assert lost.value.holder == "2:new"
        assert d.book.lost is not None
        assert await d.r.exists(d.keys.job("j")) == 0
        with pytest.raises(LeaseLost):  # nor can it renew, or release the new holder's lease
            await d.one(contracts.lead_renew(d.keys, ttl_ms=5000))
        with pytest.raises(LeaseLost):
            await d.one(contracts.lead_release(d.keys))
        assert await d.r.get(d.keys.reactor_leader) == b"2:new"
        d.book.lease = "2:new"
        await d.one(d.start("j"))
        assert await d.r.exists(d.keys.job("j")) == 1


async def test_a_lease_that_ran_out_untaken_still_fences_others_and_is_renewed(redis_url: str) -> None:
    """Nobody took the lease after it ran out (a lone reactor paused, Redis restarted): no
    other reactor acted meanwhile, so its holder's calls go on and its renewal stores it again."""
    async with open_driver(redis_url) as d:
        await d.one(contracts.lead_take(d.keys, instance="a", ttl_ms=5000))
        await d.r.delete(d.keys.reactor_leader)  # ran out
        d.book.lease = "1:a"
        await d.one(d.start("j"))
        assert await d.r.exists(d.keys.job("j")) == 1
        assert await d.one(contracts.lead_renew(d.keys, ttl_ms=5000)) == Ok()
        assert await d.r.get(d.keys.reactor_leader) == b"1:a"
        await d.r.delete(d.keys.reactor_leader)
        d.book.lease = "0:someone-older"  # a lease from before the last one taken
        with pytest.raises(LeaseLost):
            await d.one(d.start("k"))
        assert await d.r.exists(d.keys.job("k")) == 0
