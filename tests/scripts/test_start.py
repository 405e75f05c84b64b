"""start.lua: one job per id; a pending intake record becomes the job."""

from __future__ import annotations

import pytest

from reactor.outcomes import Created, Existing, Recorded
from tests.support.scripts import open_driver

pytestmark = pytest.mark.anyio


async def test_a_job_is_created_once(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        first = await d.one(d.start("j"))
        assert first == Created(status="running", fence=0, checkpoint='{"node":"w"}', input="{}")
        assert await d.one(d.start("j")) == Existing(status="running", fence=0, checkpoint='{"node":"w"}',
                                                     input="{}")
        assert await d.r.zscore(d.keys.wakes, "j") == d.now + 60  # under a wake lease from the start


async def test_a_pending_record_becomes_the_job_keeping_its_creation(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        assert await d.one(d.intake("j", "waiting")) == Recorded(status="pending")
        assert isinstance(await d.one(d.start("j")), Created)
        job = await d.r.hgetall(d.keys.job("j"))
        assert job[b"status"] == b"running" and b"waiting_for" not in job
