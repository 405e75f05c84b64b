"""heartbeat.lua: a bot joins its pool (granted to a waiting job) or leaves it."""

from __future__ import annotations

import json

import pytest

from reactor.outcomes import Wakes
from shared.messages import ActivityWait, BotLockWait
from tests.support.scripts import open_driver

pytestmark = pytest.mark.anyio


async def test_a_new_bot_is_granted_to_the_waiting_job(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.start("j"))
        await d.one(d.park("j", 0, [BotLockWait(node="l", pool="erp")]))
        out = await d.one(d.heartbeat("b1", "erp"))
        assert [w.event_id for w in out.wakes] == ["j~1.0"]
        assert json.loads(out.wakes[0].result)["output"] == {"bot": "b1", "pool": "erp"}
        assert await d.r.hget(d.keys.bot("b1"), "holder") == b"j"
        assert await d.one(d.heartbeat("b1", "erp")) == Wakes()  # already in: nothing more


async def test_a_stopping_bot_fails_the_attempt_running_on_it(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.heartbeat("b1", "erp"))
        await d.one(d.start("j"))
        await d.one(d.park("j", 0, [BotLockWait(node="l", pool="erp")]))
        await d.one(d.park("j", 1, [ActivityWait(node="a", activity="demo.echo", bot="b1")], ["j~1.0"]))
        out = await d.one(d.heartbeat("b1", "erp", stopping=True))
        assert [w.event_id for w in out.wakes] == ["j~2.0"]
        assert json.loads(out.wakes[0].result)["error"] == "bot b1 lost: stopped"
        assert await d.r.lrange(d.keys.pool_free("erp"), 0, -1) == []
