"""Child jobs (lib/children.lua, in park.lua and finish.lua): a child wait starts its child once,
the child's end fires the parent's wait, the end of a parent cancels its children."""

from __future__ import annotations

import json
from typing import Any

import pytest

from reactor.outcomes import Done, Fired, Parked, Retried, Stale
from reactor.store import TIMEOUT_RESULTS, new_waits
from shared.errors import InvalidMessage, InvalidName
from shared.messages import ActivityWait, ChildWait, SignalWait
from shared.names import child_job_id
from tests.support.scripts import Driver, fired, open_driver

pytestmark = pytest.mark.anyio


def call(parent: str, path: str = "post", *, digest: str = "d", branch: str = "") -> ChildWait:
    return ChildWait(node=path, branch=branch, job_id=child_job_id(parent, path), digest=digest, name="sub",
                     version=2, start="s", input={"invoice": 7})


def text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def history(d: Driver, job_id: str) -> list[tuple[str, str]]:
    entries: Any = await d.r.xrange(d.keys.job_history(job_id))
    return [(text(f[b"event"]), text(f[b"detail"])) for _, f in entries]


async def test_a_child_wait_starts_its_child_once_even_when_parked_twice(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        child = child_job_id("p", "post")
        await d.one(d.start("p"))
        out = await d.one(d.park("p", 0, [call("p")]))
        # The child is offered at once (nobody holds it), from its start node, with nothing fired.
        [wake] = fired(out)
        assert (wake.job_id, wake.fence, json.loads(wake.checkpoint), json.loads(wake.input), wake.fired) == \
            (child, 0, {"node": "s"}, {"invoice": 7}, [])
        record: Any = await d.r.hgetall(d.keys.job(child))
        assert {k: text(record[k.encode()]) for k in ("status", "name", "version", "digest", "fence", "parent",
                                                          "parent_event")} == {
            "status": "running", "name": "sub", "version": "2", "digest": "d", "fence": "0", "parent": "p",
            "parent_event": "p~1.0"}
        assert await d.r.zscore(d.keys.wakes, child) == d.now + 60
        assert await d.r.zscore(d.keys.job_status("running"), child) is not None
        assert await d.r.hget(d.keys.event("p~1.0"), "child") == child.encode()
        # Another executor's park of the same step is stale: nothing is started twice.
        assert await d.one(d.park("p", 0, [call("p")])) == Stale(fence=1)
        # The parent parks the wait again (say, re-run after a lost reply): the running child now
        # ends into the new wait; no second start, no second wake.
        assert fired(await d.one(d.park("p", 1, [call("p")], drop=["p~1.0"]))) == []
        assert await d.r.hget(d.keys.job(child), "parent_event") == b"p~2.0"
        assert await d.r.hget(d.keys.job(child), "status") == b"running"
        assert [e for e, _ in await history(d, child)] == ["created"]


async def test_the_childs_end_fires_the_parents_wait(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        child = child_job_id("p", "post")
        await d.one(d.start("p"))
        await d.one(d.park("p", 0, [call("p", branch="both.erp")]))
        out = await d.one(d.finish(child, 0, "completed", output=b'{"posted":[1,2],"none":{}}'))
        assert isinstance(out, Done)
        [wake] = out.wakes
        assert (wake.job_id, [f.event_id for f in wake.fired]) == ("p", ["p~1.0"])
        assert (wake.fired[0].kind, wake.fired[0].branch) == ("child", "both.erp")
        assert json.loads(wake.result) == {"ok": True, "output": {"posted": [1, 2], "none": {}}}
        assert await d.r.zscore(d.keys.wakes, "p") == d.now + 60


@pytest.mark.parametrize(("status", "error", "message"), [
    ("failed", "boom", "child job {c} failed: boom"),
    ("cancelled", "by hand", "child job {c} was cancelled"),
])
async def test_a_child_that_fails_or_is_cancelled_fails_the_parents_wait(redis_url: str, status: str, error: str,
                                                                         message: str) -> None:
    async with open_driver(redis_url) as d:
        child = child_job_id("p", "post")
        await d.one(d.start("p"))
        await d.one(d.park("p", 0, [call("p")]))
        out = await d.one(d.finish(child, None, status, error=error))
        assert isinstance(out, Done)
        assert json.loads(out.wakes[0].result) == {"ok": False, "error": message.format(c=child)}


async def test_a_child_found_finished_fires_the_wait_at_once(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        child = child_job_id("p", "post")
        await d.one(d.start("p"))
        await d.one(d.park("p", 0, [call("p")]))
        await d.one(d.park("p", 1, [], drop=["p~1.0"]))  # the wait given up, the child cancelled
        assert await d.r.hget(d.keys.job(child), "status") == b"cancelled"
        [wake] = fired(await d.one(d.park("p", 2, [call("p")])))
        assert wake.job_id == "p" and json.loads(wake.result)["error"] == f"child job {child} was cancelled"


async def test_the_failed_child_of_a_retried_parent_runs_again_and_a_completed_one_does_not(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        failing, done = child_job_id("p", "post"), child_job_id("p", "book")
        await d.one(d.start("p"))
        await d.one(d.park("p", 0, [call("p"), call("p", "book")]))
        await d.one(d.finish(done, 0, "completed", output=b'{"booked":1}'))
        await d.one(d.finish(failing, 0, "failed", error="boom"))
        await d.one(d.finish("p", 1, "failed", error="child failed"))
        assert isinstance(await d.one(d.retry("p", 2)), Retried)  # ee retry p: it parks its calls again
        out = await d.one(d.park("p", 3, [call("p"), call("p", "book")]))
        woken = {w.job_id: w for w in fired(out)}
        assert set(woken) == {failing, "p"}  # the failing child runs again; the completed one fires
        assert woken[failing].fence == 2 and json.loads(woken[failing].checkpoint) == {"node": "s"}
        assert json.loads(woken["p"].result) == {"ok": True, "output": {"booked": 1}}
        record: Any = await d.r.hmget(d.keys.job(failing), ["status", "parent_event", "parent_retries", "error"])
        assert record == [b"running", b"p~4.0", b"1", None]
        assert await d.r.zscore(d.keys.job_status("running"), failing) is not None
        assert await d.r.zscore(d.keys.job_status("failed"), failing) is None
        assert [e for e, _ in await history(d, failing)] == ["created", "retried"]  # (the driver's finish adds none)
        # Its end fires the parent's new wait, held while the parent's wake is out; the parent's
        # next park (the completed child's result consumed) is offered it.
        ended = await d.one(d.finish(failing, 2, "completed", output=b'{"posted":true}'))
        assert isinstance(ended, Done) and [(w.job_id, w.held) for w in ended.wakes] == [("p", True)]
        [wake] = fired(await d.one(d.park("p", 4, [], consumed=["p~4.1"])))
        assert [(f.event_id, json.loads(f.result)) for f in wake.fired] == [
            ("p~4.0", {"ok": True, "output": {"posted": True}})]


async def test_a_child_of_a_workflow_not_stored_fails_the_wait_at_once(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.start("p"))
        [wake] = fired(await d.one(d.park("p", 0, [call("p", digest="missing")])))
        assert wake.job_id == "p"
        error = json.loads(wake.result)["error"]
        assert "workflow sub v2 (digest missing) is not stored; deploy it" in error
        assert await d.r.exists(d.keys.job(child_job_id("p", "post"))) == 0


async def test_a_job_of_the_childs_id_that_is_no_child_of_this_job_is_not_adopted(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        child = child_job_id("p", "post")
        await d.one(d.start(child))
        await d.one(d.start("p"))
        [wake] = fired(await d.one(d.park("p", 0, [call("p")])))
        assert json.loads(wake.result)["error"] == f"job {child} exists and is not a child of job p"
        assert await d.r.hget(d.keys.job(child), "parent") is None


async def test_cancelling_a_parent_cancels_its_children_and_theirs(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        child = child_job_id("p", "post")
        grandchild = child_job_id(child, "post")
        await d.one(d.heartbeat("b1", "erp"))
        await d.one(d.start("p"))
        await d.one(d.park("p", 0, [call("p"), SignalWait(node="s", signal="go")]))
        # The child parks on a grandchild and an activity; the grandchild holds a bot and runs one.
        await d.one(d.park(child, 0, [call(child), ActivityWait(node="a", activity="demo.echo")]))
        await d.one(d.park(grandchild, 0, [ActivityWait(node="g", activity="demo.echo")]))
        await d.r.hset(d.keys.bot("b1"), "holder", grandchild)
        await d.r.hset(d.keys.job(grandchild), "bots", "b1")
        await d.r.lrem(d.keys.pool_free("erp"), 0, "b1")
        out = await d.one(d.finish("p", None, "cancelled"))
        assert isinstance(out, Done) and out.left == []
        assert sorted(out.dropped) == sorted([f"{child}~1.1", f"{grandchild}~1.0"])
        for job_id in (child, grandchild):
            assert await d.r.hget(d.keys.job(job_id), "status") == b"cancelled"
            assert await d.r.smembers(d.keys.job_events(job_id)) == set()
            assert await d.r.zscore(d.keys.wakes, job_id) is None
        assert await d.r.hget(d.keys.job(child), "error") == b"parent job p no longer waits for it"
        assert ("cancelled", f"parent job {child} no longer waits for it") in await history(d, grandchild)
        assert await d.r.hget(d.keys.bot("b1"), "holder") == b""
        assert await d.r.lrange(d.keys.pool_free("erp"), 0, -1) == [b"b1"]
        assert out.wakes == []  # nothing fired in the cancelled parent


async def test_a_completed_parent_cancels_the_children_it_still_waited_for(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        child = child_job_id("p", "post")
        await d.one(d.start("p"))
        await d.one(d.park("p", 0, [call("p")]))
        assert isinstance(await d.one(d.finish("p", 1, "completed")), Done)
        assert await d.r.hget(d.keys.job(child), "status") == b"cancelled"


async def test_a_finished_child_leaves_a_parent_that_no_longer_waits_alone(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        child = child_job_id("p", "post")
        await d.one(d.start("p"))
        await d.one(d.park("p", 0, [call("p")]))
        # An operator resolved the parent's wait by hand: the child's end fires nothing more.
        assert isinstance(await d.one(d.event("p~1.0", "resolve")), Fired)
        out = await d.one(d.finish(child, 0, "completed"))
        assert isinstance(out, Done) and out.wakes == []
        assert isinstance(await d.one(d.park("p", 1, [], ["p~1.0"])), Parked)


def test_a_child_wait_needs_a_valid_job_id_other_than_its_parents() -> None:
    with pytest.raises(InvalidName):
        new_waits("p", 0, [ChildWait(node="n", job_id="bad id", digest="d", name="sub", version=1, start="s")], 0.0)
    with pytest.raises(InvalidMessage, match="its own child"):
        new_waits("p", 0, [ChildWait(node="n", job_id="p", digest="d", name="sub", version=1, start="s")], 0.0)


async def test_a_timeout_an_operator_gave_a_child_wait_ends_it(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.start("p"))
        await d.one(d.park("p", 0, [call("p")]))
        await d.one(d.event("p~1.0", "extend", timeout_s=5))
        out = await d.one(d.timer("p~1.0", timeout_result=TIMEOUT_RESULTS["child"], at=d.now + 5))
        assert isinstance(out, Fired)
        assert json.loads(out.wake.result) == {"ok": False, "error": "timed out waiting for the child job",
                                               "error_type": "timeout"}
