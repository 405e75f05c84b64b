"""The schedules' scripts: schedule_put.lua stores a schedule (or replaces it), schedule_op.lua
pauses, resumes or deletes it, schedule_fire.lua takes one step of it (a fire by its overlap
policy, missed fire times, a buffered fire, a trigger), atomic with its next fire time."""

from __future__ import annotations

from typing import Any

import pytest
from redis.exceptions import ResponseError

from reactor.clock_outcomes import ScheduleExists, ScheduleStep, ScheduleStored
from reactor.outcomes import Nothing, Ok, Unknown
from shared import clock
from tests.support.scripts import Driver, open_driver

pytestmark = pytest.mark.anyio

T = 1_000_000.0  # the driver's clock reading: the first fire time of every schedule here
MINUTE = 60.0


async def score(d: Driver, key: str, member: str) -> float | None:
    value: float | None = await d.r.zscore(key, member)
    return value


async def buffered(d: Driver) -> set[bytes]:
    members: Any = await d.r.smembers(d.keys.schedules_buffered)
    return set(members)


async def fired(d: Driver, name: str, job_id: str, due: float = T) -> None:
    """Fire schedule ``name`` at ``due`` (its next fire time), starting ``job_id``."""
    step = await d.one(d.schedule_fire(name, "fire", due, due + MINUTE, job_id=job_id, at=due))
    assert step == ScheduleStep(result="fired", job_id=job_id, created=True), step


# -- schedule_put ---------------------------------------------------------------------------

async def test_a_schedule_is_stored_once_with_its_next_fire_time(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        assert await d.one(d.schedule_put("nightly", T, tz="UTC")) == ScheduleStored(status="active")
        s = await d.schedule("nightly")
        assert (s["name"], s["cron"], s["tz"], s["overlap"], s["next"], s["paused"]) == \
            ("nightly", "* * * * *", "UTC", "skip", T, 0)
        assert await score(d, d.keys.schedules, "nightly") == T
        before = await d.snapshot()
        assert await d.one(d.schedule_put("nightly", T + MINUTE, tz="Europe/Paris")) == ScheduleExists(status="exists")
        assert await d.snapshot() == before


async def test_a_replaced_schedule_keeps_its_counters_and_drops_its_buffered_fire(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.schedule_put("s", T, overlap="buffer_one", workflow_name="old", workflow_version="1"))
        await fired(d, "s", "s-1")
        await d.one(d.defer_start("s-1", at=T))  # its job runs: the next fire is buffered
        assert await d.one(d.schedule_fire("s", "fire", T + MINUTE, T + 2 * MINUTE, job_id="s-2")) == \
            ScheduleStep(result="buffered")
        assert await buffered(d) == {b"s"}
        assert await d.one(d.schedule_put("s", T + 5 * MINUTE, replace=True, workflow='{"v":2}')) == Ok()
        s = await d.schedule("s")
        assert (s["fired"], s["last_job"], s["next"], s["workflow"]) == (1, "s-1", T + 5 * MINUTE, {"v": 2})
        assert not {"buffered", "workflow_name", "workflow_version"} & s.keys()  # of the old definition
        assert await buffered(d) == set()
        assert await score(d, d.keys.schedules, "s") == T + 5 * MINUTE


# -- schedule_op ----------------------------------------------------------------------------

async def test_a_paused_schedule_is_never_due_until_resumed(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.schedule_put("s", T))
        assert await d.one(d.schedule_op("s", "pause")) == Ok()
        s = await d.schedule("s")
        assert s["paused"] == 1 and "next" not in s and s["updated"] == clock.iso(T)
        assert await score(d, d.keys.schedules, "s") == float("inf")
        assert await d.one(d.schedule_fire("s", "fire", T, T + MINUTE, job_id="s-1")) == Nothing()
        assert await d.one(d.schedule_op("s", "resume", T + 10 * MINUTE)) == Ok()
        s = await d.schedule("s")
        assert (s["paused"], s["next"]) == (0, T + 10 * MINUTE)
        assert await score(d, d.keys.schedules, "s") == T + 10 * MINUTE


async def test_a_deleted_schedule_is_gone_and_its_jobs_stay(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.schedule_put("s", T, overlap="buffer_one"))
        await fired(d, "s", "s-1")
        await d.one(d.schedule_fire("s", "fire", T + MINUTE, T + 2 * MINUTE, job_id="s-2"))  # buffered
        assert await d.one(d.schedule_op("s", "delete")) == Ok()
        assert await d.r.exists(d.keys.schedule("s")) == 0
        assert await score(d, d.keys.schedules, "s") is None
        assert await buffered(d) == set()
        assert (await d.job("s-1"))["schedule"] == "s"
        before = await d.snapshot()
        for op in ("pause", "resume", "delete"):
            assert await d.one(d.schedule_op("s", op, T)) == Unknown()
        assert await d.snapshot() == before


async def test_an_unknown_op_or_a_resume_without_a_time_is_an_error_that_writes_nothing(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.schedule_put("s", T))
        before = await d.snapshot()
        for op, next in (("rename", T), ("resume", None)):
            with pytest.raises(ResponseError, match="schedule_op: op"):
                await d.one(d.schedule_op("s", op, next))
        assert await d.snapshot() == before


# -- schedule_fire --------------------------------------------------------------------------

async def test_a_fire_time_starts_its_job_once_and_moves_the_schedule_on(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        assert await d.one(d.schedule_fire("nobody", "fire", T, T + MINUTE, job_id="x")) == Unknown()
        assert await d.r.exists(d.keys.job("x")) == 0
        await d.one(d.schedule_put("s", T))
        await fired(d, "s", "s-1")
        job = await d.job("s-1")
        assert (job["status"], job["not_before"], job["schedule"], job["fire_time"]) == \
            ("pending", T, "s", clock.iso(T))
        assert await score(d, d.keys.deferred, "s-1") == T  # due now: the clock starts it
        s = await d.schedule("s")
        assert (s["fired"], s["last_job"], s["last_fire"], s["next"]) == (1, "s-1", clock.iso(T), T + MINUTE)
        assert await score(d, d.keys.schedules, "s") == T + MINUTE
        before = await d.snapshot()
        # The same fire time again (fired already) or one that is not the schedule's next: nothing.
        assert await d.one(d.schedule_fire("s", "fire", T, T + MINUTE, job_id="s-1")) == Nothing()
        assert await d.one(d.schedule_fire("s", "fire", T + 30, T + MINUTE, job_id="s-x")) == Nothing()
        assert await d.snapshot() == before


async def test_an_overlapping_fire_is_skipped_or_started_by_the_overlap_policy(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.schedule_put("skip", T))
        await d.one(d.schedule_put("all", T, overlap="allow_all"))
        for name in ("skip", "all"):
            await fired(d, name, f"{name}-1")
        # skip-1 is pending, not started yet: it has not ended, so the next fire overlaps it.
        second = T + MINUTE
        assert await d.one(d.schedule_fire("skip", "fire", second, second + MINUTE, job_id="skip-2", at=second)) == \
            ScheduleStep(result="skipped")
        s = await d.schedule("skip")
        assert (s["skipped"], s["last_skipped"], s["next"], s["last_job"]) == (1, clock.iso(second), second + MINUTE,
                                                                               "skip-1")
        assert await d.r.exists(d.keys.job("skip-2")) == 0
        await fired(d, "all", "all-2", second)
        assert (await d.schedule("all"))["fired"] == 2
        # The last job ended: the next fire starts a job again.
        await d.one(d.finish("skip-1", 0, "completed"))
        await fired(d, "skip", "skip-3", second + MINUTE)


async def test_one_overlapping_fire_is_buffered_and_released_when_the_last_job_ends(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.schedule_put("s", T, overlap="buffer_one"))
        await fired(d, "s", "s-1")
        second, third = T + MINUTE, T + 2 * MINUTE
        assert await d.one(d.schedule_fire("s", "fire", second, third, job_id="s-2")) == ScheduleStep(result="buffered")
        s = await d.schedule("s")
        assert (s["buffered"], s["next"]) == (second, third)
        assert await buffered(d) == {b"s"}
        assert await d.one(d.schedule_fire("s", "fire", third, third + MINUTE, job_id="s-3")) == \
            ScheduleStep(result="skipped")  # one buffered already
        assert await d.one(d.schedule_fire("s", "buffered", second, job_id="s-2")) == Nothing()  # s-1 still runs
        assert await buffered(d) == {b"s"}
        await d.one(d.finish("s-1", None, "cancelled"))
        out = await d.one(d.schedule_fire("s", "buffered", second, job_id="s-2", at=third))
        assert out == ScheduleStep(result="fired", job_id="s-2", created=True)
        s = await d.schedule("s")
        assert "buffered" not in s and (s["fired"], s["last_job"], s["next"]) == (2, "s-2", third + MINUTE)
        assert await buffered(d) == set()
        assert (await d.job("s-2"))["status"] == "pending"


async def test_a_buffered_fire_no_longer_held_only_leaves_the_set(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.schedule_put("s", T, overlap="buffer_one"))
        await d.r.sadd(d.keys.schedules_buffered, "s")
        before = await d.schedule("s")
        assert await d.one(d.schedule_fire("s", "buffered", None)) == Nothing()
        assert await buffered(d) == set()
        assert await d.schedule("s") == before


async def test_missed_fire_times_are_counted_not_fired(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.schedule_put("s", T))
        after = T + 10 * MINUTE
        assert await d.one(d.schedule_fire("s", "missed", T, after, n=10, at=after)) == ScheduleStep(result="missed")
        s = await d.schedule("s")
        assert (s["missed"], s["last_missed"], s["next"], s.get("fired", 0)) == (10, clock.iso(T), after, 0)
        assert await score(d, d.keys.schedules, "s") == after
        assert await d.one(d.schedule_fire("s", "missed", T, after, n=10, at=after)) == Nothing()  # counted once
        assert (await d.schedule("s"))["missed"] == 10


async def test_a_trigger_starts_a_job_whatever_runs_and_leaves_the_fire_times(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.schedule_put("s", T + MINUTE))
        await d.one(d.schedule_op("s", "pause"))
        assert await d.one(d.schedule_fire("s", "trigger", None, job_id="s-m1")) == \
            ScheduleStep(result="fired", job_id="s-m1", created=True)
        assert await d.one(d.schedule_fire("s", "trigger", None, job_id="s-m2")) == \
            ScheduleStep(result="fired", job_id="s-m2", created=True)  # s-m1 has not ended: started anyway
        s = await d.schedule("s")
        assert (s["fired"], s["last_job"], s["paused"], "next" in s) == (2, "s-m2", 1, False)
        assert await score(d, d.keys.schedules, "s") == float("inf")
        await d.one(d.defer_start("s-m1"))
        assert await d.one(d.schedule_fire("s", "trigger", None, job_id="s-m1")) == \
            ScheduleStep(result="fired", job_id="s-m1", created=False)  # that job exists: left as it is
        assert (await d.job("s-m1"))["status"] == "running"
        assert (await d.schedule("s"))["fired"] == 2  # and not counted as a fire
