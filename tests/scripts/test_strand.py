"""strand.lua: a job an executor cannot run is marked stranded, once per reason."""

from __future__ import annotations

import pytest

from reactor.outcomes import Ok, Unknown
from tests.support.scripts import open_driver

pytestmark = pytest.mark.anyio


async def test_strand(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        assert await d.one(d.strand("nobody", "why")) == Unknown()
        await d.one(d.start("j"))
        assert await d.one(d.strand("j", "version 9 unknown")) == Ok()
        assert await d.one(d.strand("j", "version 9 unknown")) == Ok()
        assert await d.r.hget(d.keys.job("j"), "stranded") == b"version 9 unknown"
        assert await d.r.xlen(d.keys.job_history("j")) == 2  # created, stranded once
