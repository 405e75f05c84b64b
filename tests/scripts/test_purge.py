"""Retention in the scripts: the finishing steps set the TTLs (EE_RETENTION), purge.lua removes
finished jobs from every index of job ids, a bounded batch per call."""

from __future__ import annotations

import pytest

from reactor.outcomes import Purged
from reactor.retention import purge_finished
from reactor.store import Store
from shared.messages import TimerWait
from tests.support.scripts import Driver, open_driver

pytestmark = pytest.mark.anyio


def job_keys(d: Driver, j: str) -> list[str]:
    return [d.keys.job(j), d.keys.job_history(j), d.keys.job_inbox(j), d.keys.job_events(j)]


async def finished(d: Driver, j: str, status: str = "completed") -> None:
    await d.one(d.start(j))
    await d.one(d.finish(j, 0, status))


async def test_finishing_steps_set_the_retention_ttl(redis_url: str) -> None:
    async with open_driver(redis_url, retention_s=60) as d:
        await finished(d, "done")
        await d.one(d.cancel_before_start("early"))
        await d.one(d.intake("refused", "refused"))
        await d.one(d.start("parked"))
        await d.one(d.park("parked", 0, [TimerWait(node="w", seconds=60)]))
        for j in ("done", "early", "refused"):
            assert 0 < await d.r.pttl(d.keys.job(j)) <= 60_000, j
            for k in job_keys(d, j):  # every key of the job that exists carries the TTL
                assert await d.r.pttl(k) != -1, k
        assert 0 < await d.r.pttl(d.keys.job_history("refused")) <= 60_000
        for k in [*job_keys(d, "parked"), d.keys.event("parked~1.0")]:
            assert await d.r.pttl(k) in (-1, -2), k  # no TTL (or no such key): kept
        assert await d.r.pttl(d.keys.job("parked")) == -1


async def test_retention_zero_keeps_finished_jobs(redis_url: str) -> None:
    async with open_driver(redis_url, retention_s=0) as d:
        await finished(d, "done")
        assert await d.r.pttl(d.keys.job("done")) == -1
        assert await d.r.pttl(d.keys.job_history("done")) == -1


async def test_purge_removes_only_finished_jobs_in_batches(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        for i in range(5):
            await finished(d, f"c{i}")
        await finished(d, "f0", "failed")
        await d.one(d.start("parked"))
        await d.one(d.park("parked", 0, [TimerWait(node="w", seconds=60)]))
        assert await d.one(d.purge("completed", older_than_s=3600)) == Purged(removed=0, more=False)
        assert await d.one(d.purge("completed", limit=2)) == Purged(removed=2, more=True)
        assert await d.one(d.purge("completed", limit=2)) == Purged(removed=2, more=True)
        assert await d.one(d.purge("completed", limit=2)) == Purged(removed=1, more=False)
        for i in range(5):
            assert not await d.r.exists(*job_keys(d, f"c{i}"))
        assert await d.r.zcard(d.keys.job_status("completed")) == 0
        assert sorted(await d.r.zrange(d.keys.jobs, 0, -1)) == [b"f0", b"parked"]
        assert await d.r.exists(d.keys.job("f0"), d.keys.job("parked"), d.keys.event("parked~1.0")) == 3
        assert await d.r.zscore(d.keys.job_status("parked"), "parked") is not None


async def test_purge_takes_expired_jobs_out_of_the_indexes(redis_url: str) -> None:
    async with open_driver(redis_url, retention_s=1) as d:
        await finished(d, "gone", "cancelled")
        await d.r.delete(d.keys.job("gone"), d.keys.job_history("gone"))  # as its TTL would
        assert await d.one(d.purge("cancelled")) == Purged(removed=1, more=False)
        assert await d.r.zscore(d.keys.jobs, "gone") is None
        assert await d.r.zscore(d.keys.job_status("cancelled"), "gone") is None


async def test_purge_refuses_a_status_not_final(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        with pytest.raises(ValueError, match="not a final status"):
            d.purge("parked")


async def test_purge_finished_walks_in_bounded_batches(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        for i in range(5):
            await finished(d, f"c{i}")
        await finished(d, "x0", "cancelled")
        store = Store(d.r, d.keys, 10.0, direct=True)
        dry = await purge_finished(store, 0.0, dry_run=True)
        assert dry.removed == {"completed": 5, "failed": 0, "cancelled": 1} and dry.batches == 0
        first = await purge_finished(store, 0.0, batch=2, max_batches=2)
        assert first.removed == {"completed": 4, "failed": 0, "cancelled": 0} and first.more
        rest = await purge_finished(store, 0.0, batch=2, max_batches=10)
        assert rest.removed == {"completed": 1, "failed": 0, "cancelled": 1} and not rest.more
        assert await d.r.zcard(d.keys.jobs) == 0
