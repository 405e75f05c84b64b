"""signal.lua: fire the wait for it, or keep it in the bounded inbox."""

from __future__ import annotations

import pytest

from reactor.outcomes import Finished, Fired, InboxFull, Kept, OverBudget, Unknown
from shared.messages import SignalWait
from tests.support.scripts import open_driver

pytestmark = pytest.mark.anyio
OK = b'{"ok":true}'


async def test_a_signal_fires_its_wait(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.start("j"))
        await d.one(d.park("j", 0, [SignalWait(node="w", signal="go")]))
        out = await d.one(d.signal("j", "go", OK))
        assert isinstance(out, Fired) and out.wake.event_id == "j~1.0"
        assert await d.one(d.signal("j", "go", OK)) == Kept()  # fired already: the next one waits


async def test_the_inbox_is_bounded(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        assert await d.one(d.signal("nobody", "go", OK)) == Unknown()
        await d.one(d.start("j"))
        assert await d.one(d.signal("j", "a", OK, inbox_max=1)) == Kept()
        assert await d.one(d.signal("j", "b", OK, inbox_max=1)) == InboxFull()
        held = len(await d.r.lindex(d.keys.job_inbox("j"), 0) or b"")
        assert await d.one(d.signal("j", "c", OK, inbox_max_bytes=held + 3)) == OverBudget(held=held)
        await d.one(d.finish("j", 0, "completed"))
        assert await d.one(d.signal("j", "a", OK)) == Finished(status="completed")
