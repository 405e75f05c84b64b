"""retry.lua: a failed job runs again from its checkpoint under a wake lease, once per fence;
any other job, or a fence moved on, is refused before anything is written."""

from __future__ import annotations

import pytest

from reactor.outcomes import NotFailed, Retried, Stale, Unknown, WakeData
from tests.support.scripts import CHECKPOINT, Driver, open_driver

pytestmark = pytest.mark.anyio


async def failed(d: Driver, j: str) -> None:
    """Job ``j`` failed at fence 1 (its finish raised the fence)."""
    await d.one(d.start(j))
    await d.one(d.finish(j, 0, "failed", error="boom"))


async def test_a_failed_job_runs_again_from_its_checkpoint(redis_url: str) -> None:
    async with open_driver(redis_url, retention_s=60) as d:
        await failed(d, "j")
        await d.r.zadd(d.keys.stranded, {"j": 1.0})  # an index entry left behind goes with the failure
        out = await d.one(d.retry("j", 1, node="pay"))
        assert out == Retried(fence=2, retries=1, wake=WakeData(job_id="j", fence=2, checkpoint=CHECKPOINT.decode(),
                                                                 digest="d", input="{}"))
        job = await d.job("j")
        assert (job["status"], job["fence"], job["retries"]) == ("running", 2, 1)
        assert not {"output", "error", "finished"} & job.keys()
        assert await d.history("j") == ["created", "retried"]
        assert await d.r.zscore(d.keys.wakes, "j") == d.now + 60  # offered again while it stays so
        assert await d.r.zscore(d.keys.job_status("running"), "j") is not None
        assert await d.r.zscore(d.keys.job_status("failed"), "j") is None
        assert await d.r.zscore(d.keys.stranded, "j") is None
        for key in (d.keys.job("j"), d.keys.job_history("j")):
            assert await d.r.pttl(key) == -1, key  # running again: its keys no longer expire


async def test_a_deadline_not_judged_holds_again_and_a_flagged_one_stays_flagged(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        for j in ("came-due-while-failed", "flagged"):
            await d.one(d.start(j))
            await d.one(d.deadline_arm(j, d.now - 1))
        await d.one(d.deadline("flagged"))  # flagged overdue while running, off the clock (on_deadline flag)
        for j in ("came-due-while-failed", "flagged"):
            await d.one(d.finish(j, 0, "failed", error="boom"))
        await d.one(d.deadline("came-due-while-failed"))  # a failed job only leaves the clock
        assert await d.r.zscore(d.keys.deadlines, "came-due-while-failed") is None
        for j in ("came-due-while-failed", "flagged"):
            await d.one(d.retry(j, 1, node="pay"))
        assert await d.r.zscore(d.keys.deadlines, "came-due-while-failed") == d.now - 1  # judged at the next pass
        assert await d.r.zscore(d.keys.deadlines, "flagged") is None
        assert "overdue" in await d.job("flagged")
        assert "overdue" not in await d.job("came-due-while-failed")


async def test_a_retry_from_another_checkpoint_stores_it_and_counts_retries(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await failed(d, "j")
        await d.one(d.retry("j", 1))
        await d.one(d.finish("j", 2, "failed"))
        out = await d.one(d.retry("j", 3, checkpoint=b'{"node":"b"}', node="b"))
        assert isinstance(out, Retried) and (out.fence, out.retries) == (4, 2)
        assert out.wake.checkpoint == '{"node":"b"}'
        assert (await d.job("j"))["checkpoint"] == {"node": "b"}


async def test_refusals_write_nothing(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        assert await d.one(d.retry("nobody", 0)) == Unknown()
        await d.one(d.start("running"))
        await d.one(d.start("done"))
        await d.one(d.finish("done", 0, "completed"))
        await failed(d, "j")
        before = await d.snapshot()
        assert await d.one(d.retry("running", 0)) == NotFailed(status="running")
        assert await d.one(d.retry("done", 1)) == NotFailed(status="completed")
        assert await d.one(d.retry("j", 0)) == Stale(fence=1)  # read before its failing finish
        assert await d.snapshot() == before


async def test_of_two_retries_at_once_one_wins(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await failed(d, "j")
        first, second = await d.many([d.retry("j", 1), d.retry("j", 1, by="other")])
        assert isinstance(first, Retried)
        assert second == NotFailed(status="running")
        assert await d.history("j") == ["created", "retried"]
