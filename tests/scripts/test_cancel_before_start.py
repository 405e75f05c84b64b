"""cancel_before_start.lua: a job cancelled before it exists never runs."""

from __future__ import annotations

import pytest

from reactor.outcomes import Existing, Exists, Recorded
from tests.support.scripts import open_driver

pytestmark = pytest.mark.anyio


async def test_a_cancel_before_the_start_is_kept(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        assert await d.one(d.cancel_before_start("j", "changed my mind")) == Recorded(status="cancelled")
        assert await d.one(d.start("j")) == Existing(status="cancelled", fence=0)
        assert await d.r.hget(d.keys.job("j"), "error") == b"changed my mind"


async def test_a_job_that_exists_is_left_to_finish(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.start("j"))
        assert await d.one(d.cancel_before_start("j")) == Exists()
        assert await d.r.hget(d.keys.job("j"), "status") == b"running"
