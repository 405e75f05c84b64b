"""The clock's scripts: defer.lua records a job pending until its start time, defer_start.lua
starts it when that time comes, deadline_arm.lua gives a job its deadline and deadline.lua
flags a job whose deadline passed."""

from __future__ import annotations

import pytest

from reactor.clock_outcomes import Deferred, DeferredExisting, Flagged
from reactor.outcomes import Finished, Fired, Nothing, Ok, Unknown, WakeData
from tests.support.scripts import CHECKPOINT, Driver, open_driver

pytestmark = pytest.mark.anyio


async def score(d: Driver, key: str, member: str) -> float | None:
    value: float | None = await d.r.zscore(key, member)
    return value


# -- defer --------------------------------------------------------------------------------

async def test_a_deferred_job_is_pending_until_its_start_time(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        assert await d.one(d.defer("j", d.now + 60, deadline=d.now + 600, on_deadline="fail")) == \
            Deferred(status="pending")
        job = await d.job("j")
        assert (job["status"], job["fence"], job["not_before"], job["digest"]) == ("pending", 0, d.now + 60, "d")
        assert (job["deadline"], job["on_deadline"]) == (d.now + 600, "fail")
        assert job["checkpoint"] == {"node": "w"}
        assert await d.r.get(d.keys.workflow("d")) == b"{}"
        assert await score(d, d.keys.deferred, "j") == d.now + 60
        assert await score(d, d.keys.deadlines, "j") == d.now + 600
        assert await score(d, d.keys.jobs, "j") == d.now
        assert await score(d, d.keys.job_status("pending"), "j") is not None
        assert await d.history("j") == ["deferred"]


async def test_a_job_is_deferred_once_and_a_job_that_exists_is_left_as_it_is(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.defer("later", d.now + 60))
        await d.one(d.start("running"))
        before = await d.snapshot()
        assert await d.one(d.defer("later", d.now + 5)) == DeferredExisting(status="pending")
        assert await d.one(d.defer("running", d.now + 5)) == DeferredExisting(status="running")
        assert await d.snapshot() == before


async def test_a_pending_intake_record_becomes_the_deferred_job_keeping_its_creation(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.intake("j", "waiting"))
        created = (await d.job("j"))["created"]
        assert await d.one(d.defer("j", d.now + 60, at=d.now + 1)) == Deferred(status="pending")
        job = await d.job("j")
        assert job["created"] == created and job["not_before"] == d.now + 60
        assert not {"waiting_for", "waiting_reason"} & job.keys()
        assert await d.history("j") == ["waiting", "deferred"]


# -- defer_start ------------------------------------------------------------------------------

async def test_a_pending_job_starts_when_its_time_comes(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.defer("j", d.now + 60))
        before = await d.snapshot()
        assert await d.one(d.defer_start("j", at=d.now + 59)) == Nothing()  # not yet: left on the clock
        assert await d.snapshot() == before
        out = await d.one(d.defer_start("j", at=d.now + 60))
        assert out == Fired(wake=WakeData(job_id="j", fence=0, checkpoint=CHECKPOINT.decode(), digest="d",
                                          input="{}"))
        job = await d.job("j")
        assert job["status"] == "running" and job["started"] == job["updated"]
        assert await score(d, d.keys.deferred, "j") is None
        assert await score(d, d.keys.wakes, "j") == d.now + 120  # under a wake lease, as a start is
        assert await score(d, d.keys.job_status("pending"), "j") is None
        assert await score(d, d.keys.job_status("running"), "j") is not None
        assert await d.history("j") == ["deferred", "started"]
        assert await d.one(d.defer_start("j", at=d.now + 61)) == Nothing()  # started once


async def test_a_deferred_job_starts_with_its_priority(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.defer("urgent", d.now + 60, priority=1))
        await d.one(d.defer("plain", d.now + 60))
        for j in ("urgent", "plain"):
            assert isinstance(await d.one(d.defer_start(j, at=d.now + 60)), Fired)
        assert (await d.job("urgent"))["priority"] == 1
        assert "priority" not in await d.job("plain")  # absent: 5, as start.lua writes it


async def test_a_job_no_longer_pending_only_leaves_the_clock(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.defer("cancelled", d.now + 60))
        await d.one(d.finish("cancelled", None, "cancelled"))
        await d.r.zadd(d.keys.deferred, {"purged": d.now, "started": d.now, "waiting": d.now})
        await d.one(d.start("started"))
        await d.one(d.intake("waiting", "waiting"))  # pending without a start time: not the clock's
        for j in ("cancelled", "purged", "started", "waiting"):
            before = await d.job(j)
            assert await d.one(d.defer_start(j, at=d.now + 60)) == Nothing()
            assert await score(d, d.keys.deferred, j) is None, j
            assert await d.job(j) == before


# -- deadline_arm ----------------------------------------------------------------------------

async def test_a_job_keeps_the_first_deadline_it_is_given(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.start("j"))
        assert await d.one(d.deadline_arm("j", "")) == Ok()  # none given: nothing armed
        assert "deadline" not in await d.job("j")
        assert await d.one(d.deadline_arm("j", d.now + 60, "fail")) == Ok()
        assert await d.one(d.deadline_arm("j", d.now + 5)) == Ok()  # an executor starting it twice
        job = await d.job("j")
        assert (job["deadline"], job["on_deadline"]) == (d.now + 60, "fail")
        assert await score(d, d.keys.deadlines, "j") == d.now + 60


async def test_an_unknown_or_finished_job_gets_no_deadline(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.start("j"))
        await d.one(d.finish("j", 0, "completed"))
        before = await d.snapshot()
        assert await d.one(d.deadline_arm("nobody", d.now + 60)) == Unknown()
        assert await d.one(d.deadline_arm("j", d.now + 60)) == Finished(status="completed")
        assert await d.snapshot() == before


# -- deadline ----------------------------------------------------------------------------------

async def test_a_passed_deadline_flags_the_job_once(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.start("j"))
        await d.one(d.deadline_arm("j", d.now + 60))
        before = await d.snapshot()
        assert await d.one(d.deadline("j", at=d.now + 59)) == Nothing()  # not due: left on the clock
        assert await d.snapshot() == before
        assert await d.one(d.deadline("j", at=d.now + 60)) == Flagged(on_deadline="flag", first=True)
        assert "overdue" in await d.job("j")
        assert await score(d, d.keys.overdue, "j") == d.now + 60
        assert await score(d, d.keys.deadlines, "j") is None  # flagged: off the clock
        assert await d.history("j") == ["created", "overdue"]


async def test_a_deadline_that_fails_the_job_stays_on_the_clock_until_it_is_failed(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.start("j"))
        await d.one(d.deadline_arm("j", d.now + 60, "fail"))
        assert await d.one(d.deadline("j", retry_s=30, at=d.now + 60)) == Flagged(on_deadline="fail", first=True)
        assert await score(d, d.keys.deadlines, "j") == d.now + 90
        # The reactor died before its finish: the next reading fails it again, flagged already.
        assert await d.one(d.deadline("j", retry_s=30, at=d.now + 90)) == Flagged(on_deadline="fail", first=False)
        assert await score(d, d.keys.overdue, "j") == d.now + 60
        assert await d.history("j") == ["created", "overdue"]
        await d.one(d.finish("j", None, "failed", error="deadline passed"))
        assert await d.one(d.deadline("j", at=d.now + 120)) == Nothing()
        assert await score(d, d.keys.deadlines, "j") is None


async def test_a_deadline_of_a_job_gone_or_without_one_only_leaves_the_clock(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.start("plain"))
        await d.r.zadd(d.keys.deadlines, {"plain": d.now, "purged": d.now})
        for j in ("plain", "purged"):
            before = await d.job(j)
            assert await d.one(d.deadline(j, at=d.now + 60)) == Nothing()
            assert await score(d, d.keys.deadlines, j) is None, j
            assert await d.job(j) == before
