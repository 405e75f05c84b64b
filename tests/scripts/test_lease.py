"""lease.lua: a job offered again under a longer lease, stranded after N lapses."""

from __future__ import annotations

import pytest

from reactor.outcomes import Fired, Nothing
from shared.messages import SignalWait
from tests.support.scripts import open_driver

pytestmark = pytest.mark.anyio


async def test_a_job_never_parked_is_offered_from_its_checkpoint(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.start("j"))
        out = await d.one(d.lease("j", lapsed=False))
        assert isinstance(out, Fired) and (out.wake.event_id, out.wake.checkpoint) == ("", '{"node":"w"}')
        assert out.wake.encode().endswith(b'"event_id":"","kind":"","result":null,"fired":[]}')


async def test_lapses_back_off_and_strand_the_job(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.start("j"))
        await d.one(d.park("j", 0, [SignalWait(node="w", signal="go")]))
        assert await d.one(d.lease("j", lapsed=False)) == Nothing()  # nothing fired: nothing to wake
        await d.one(d.signal("j", "go", b'{"ok":true}'))
        at = d.now + 60
        for lapse in range(1, 4):  # each lapse doubles the lease (10 s here)
            out = await d.one(d.lease("j", lapsed=True, strand_after=3, at=at))
            assert isinstance(out, Fired) and out.wake.event_id == "j~1.0"
            due = float(await d.r.zscore(d.keys.wakes, "j") or 0)
            assert due == at + 10 * 2 ** lapse
            assert (await d.r.hget(d.keys.job("j"), "stranded") is not None) == (lapse == 3)
            at = due
        assert await d.r.hget(d.keys.job("j"), "stranded") is not None
        assert await d.r.zscore(d.keys.stranded, "j") is not None


async def test_a_lease_not_due_is_left(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.start("j"))
        assert await d.one(d.lease("j", lapsed=True)) == Nothing()  # due at now + 60
