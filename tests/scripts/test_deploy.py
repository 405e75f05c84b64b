"""deploy.lua: a workflow version is stored under its name once, for good; the same content
again changes nothing, other content under a deployed version is refused."""

from __future__ import annotations

import msgspec
import pytest

from reactor.outcomes import Deployed, Unchanged, VersionTaken
from shared import clock
from shared.layout import DeploymentRecord
from tests.support.scripts import open_driver

pytestmark = pytest.mark.anyio


async def test_a_version_is_deployed_once_and_the_same_content_again_changes_nothing(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        assert await d.one(d.deploy("pay", 1, "d1", workflow=b'{"v":1}')) == Deployed()
        record = msgspec.json.decode(await d.r.hget(d.keys.deployed_workflow("pay"), "1") or b"",
                                     type=DeploymentRecord)
        assert record == DeploymentRecord(digest="d1", at=clock.iso(d.now), by="me")
        assert await d.r.get(d.keys.workflow("d1")) == b'{"v":1}'
        assert await d.r.zscore(d.keys.deployed, "pay") == d.now
        before = await d.snapshot()
        assert await d.one(d.deploy("pay", 1, "d1", by="other", at=d.now + 5)) == Unchanged()
        assert await d.snapshot() == before


async def test_other_content_under_a_deployed_version_is_refused_before_any_write(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.deploy("pay", 1, "d1"))
        before = await d.snapshot()
        assert await d.one(d.deploy("pay", 1, "d2", workflow=b'{"v":2}')) == VersionTaken(digest="d1")
        assert await d.snapshot() == before
        assert await d.r.exists(d.keys.workflow("d2")) == 0


async def test_a_version_held_by_an_unreadable_record_is_taken(redis_url: str) -> None:
    """A record that is not a deployment (written by hand, a torn migration) still holds its
    version: refused, with no digest to name."""
    async with open_driver(redis_url) as d:
        await d.r.hset(d.keys.deployed_workflow("pay"), "1", "not json")
        assert await d.one(d.deploy("pay", 1, "d1")) == VersionTaken(digest="")
        await d.r.hset(d.keys.deployed_workflow("pay"), "1", '{"at":"t"}')
        assert await d.one(d.deploy("pay", 1, "d1")) == VersionTaken(digest="")


async def test_versions_share_a_stored_workflow_and_the_index_names_the_latest_deploy(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.start("j"))  # its job stored the workflow under its digest "d" already
        await d.r.set(d.keys.workflow("d"), b'{"as":"stored"}')
        assert await d.one(d.deploy("pay", 1, "d", workflow=b'{"other":"text"}')) == Deployed()
        assert await d.one(d.deploy("pay", 2, "d", at=d.now + 10)) == Deployed()
        assert await d.r.get(d.keys.workflow("d")) == b'{"as":"stored"}'  # content-addressed: never rewritten
        assert sorted(await d.r.hkeys(d.keys.deployed_workflow("pay"))) == [b"1", b"2"]
        assert await d.r.zscore(d.keys.deployed, "pay") == d.now + 10
