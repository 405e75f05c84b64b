"""limit_set.lua (contracts.limit_set and limit_delete): a limit's settings written all at once,
or deleted; the list of limits follows. What the settings do to admissions is test_limits.py's."""

from __future__ import annotations

from typing import Any

import pytest

from reactor import contracts
from reactor.outcomes import LimitSet
from shared.layout import LimitRecord, decode_hash
from shared.messages import ActivityWait
from tests.support.scripts import Driver, open_driver

pytestmark = pytest.mark.anyio


async def limit(d: Driver, name: str = "erp") -> dict[str, object]:
    return decode_hash(LimitRecord, await d.r.hgetall(d.keys.limit(name)))


async def limits(d: Driver) -> set[bytes]:
    names: Any = await d.r.smembers(d.keys.limits)
    return set(names)


async def test_settings_are_written_all_at_once_a_cap_not_given_is_lifted(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        out = await d.one(contracts.limit_set(d.keys, name="erp", concurrency=2, rate=5, period_s=1.5, at="t1"))
        assert out == LimitSet(existed=False)
        assert await limit(d) == {"concurrency": 2, "rate": 5, "period_s": 1.5, "updated": "t1"}
        assert await limits(d) == {b"erp"}
        out = await d.one(contracts.limit_set(d.keys, name="erp", concurrency=None, rate=3, period_s=10, at="t2"))
        assert out == LimitSet(existed=True)
        assert await limit(d) == {"rate": 3, "period_s": 10.0, "updated": "t2"}
        await d.one(contracts.limit_set(d.keys, name="erp", concurrency=1, rate=None, period_s=None, at="t3"))
        assert await limit(d) == {"concurrency": 1, "updated": "t3"}


async def test_a_deleted_limit_leaves_the_list_unless_attempts_still_use_it(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(contracts.limit_set(d.keys, name="idle", concurrency=1, rate=None, period_s=None, at="t"))
        await d.one(contracts.limit_set(d.keys, name="erp", concurrency=1, rate=None, period_s=None, at="t"))
        await d.one(d.start("j"))
        await d.one(d.park("j", 0, [ActivityWait(node="a", activity="erp.post", limit="erp")]))
        assert await d.one(contracts.limit_delete(d.keys, name="idle", at="t")) == LimitSet(existed=True)
        assert await d.one(contracts.limit_delete(d.keys, name="erp", at="t")) == LimitSet(existed=True)
        assert await d.r.exists(d.keys.limit("idle"), d.keys.limit("erp")) == 0
        assert await limits(d) == {b"erp"}  # listed while its attempt holds a slot
        assert await d.one(contracts.limit_delete(d.keys, name="never", at="t")) == LimitSet(existed=False)
        assert await d.r.exists(d.keys.limit("never")) == 0
