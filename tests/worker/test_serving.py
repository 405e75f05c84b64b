"""A worker in-process against a real nats-server: tasks in, results out."""

from __future__ import annotations

import threading
from typing import Any

import anyio
import pytest
from nats.aio.msg import Msg

from shared import names
from worker import Worker, current_task, demo
from worker.streams import MAX_DELIVER, task_consumer_config
from worker.subjects import ActivityNameError

from .conftest import Bus, wait_for

pytestmark = pytest.mark.anyio


def demo_worker(bus: Bus, **settings: Any) -> Worker:
    worker = Worker(bus.settings(**settings), name="w-test")
    demo.register(worker)
    return worker


async def test_echo_add_fail(bus: Bus) -> None:
    async with demo_worker(bus):
        await bus.task("demo.echo", "j1~1.0", input={"x": [1, 2]})
        await bus.task("demo.add", "j2~1.0", input={"a": 2, "b": 40})
        await bus.task("demo.fail", "j3~1.0", input={"message": "boom"})
        results = await bus.results(3)
    echo, add, fail = results[("j1~1.0", 1)], results[("j2~1.0", 1)], results[("j3~1.0", 1)]
    assert echo.ok and echo.output == {"x": [1, 2]} and echo.worker == "w-test"
    assert add.ok and add.output == {"sum": 42}
    assert not fail.ok and fail.error == "DemoError: boom" and fail.output is None


async def test_flaky_fails_its_first_attempts(bus: Bus) -> None:
    async with demo_worker(bus):
        for attempt in (1, 2, 3):
            await bus.task("demo.flaky", "jf~1.0", attempt=attempt, input={"failures": 2})
        results = await bus.results(3)
    assert [results[("jf~1.0", a)].ok for a in (1, 2, 3)] == [False, False, True]
    assert "attempt 2" in (results[("jf~1.0", 2)].error or "")
    assert sorted(run["attempt"] for run in bus.runs()) == [1, 2, 3]


async def test_timeout_cancels_the_function(bus: Bus) -> None:
    async with demo_worker(bus):
        started = anyio.current_time()
        await bus.task("demo.sleep", "jt~1.0", attempt=2, input={"seconds": 30}, timeout_s=0.2)
        result = await bus.result()
    assert anyio.current_time() - started < 3
    assert not result.ok and result.error == "activity timed out after 0.2 s (attempt 2)"


async def test_garbage_is_terminated_and_serving_goes_on(bus: Bus) -> None:
    async with demo_worker(bus):
        await bus.js.publish(names.activity_subject("demo.echo"), b"\xffnot json")
        await bus.js.publish(names.activity_subject("demo.echo"), b'{"event_id": 7}')
        await bus.task("demo.echo", "jg~1.0", input={"still": "serving"})
        result = await bus.result()
        assert result.ok and result.output == {"still": "serving"}

        async def settled() -> bool:
            info = await bus.js.consumer_info(names.STREAM_ACTIVITIES, names.activity_consumer("demo.echo"))
            return bool(info.num_ack_pending == 0 and info.num_pending == 0 and info.num_redelivered == 0)

        await wait_for(settled, what="garbage tasks terminated, not redelivered")


async def test_consumer_limits_are_set_on_purpose(bus: Bus) -> None:
    async with demo_worker(bus, activity_ack_wait_s=12.0):
        info = await bus.js.consumer_info(names.STREAM_ACTIVITIES, names.activity_consumer("demo.echo"))
    assert info.config.filter_subject == "activity.execute.demo.echo"
    assert info.config.ack_wait == 12.0
    assert info.config.max_deliver == MAX_DELIVER
    assert info.config.max_ack_pending == 1000


async def test_long_activity_is_kept_alive_not_redelivered(bus: Bus) -> None:
    async with demo_worker(bus, activity_ack_wait_s=0.6):
        await bus.task("demo.sleep", "jl~1.0", input={"seconds": 1.5})
        result = await bus.result()
        info = await bus.js.consumer_info(names.STREAM_ACTIVITIES, names.activity_consumer("demo.sleep"))
    assert result.ok
    assert [run["event_id"] for run in bus.runs()] == ["jl~1.0"]
    assert info.num_redelivered == 0


async def test_sync_functions_run_in_a_thread_and_oversize_output_is_refused(bus: Bus) -> None:
    worker = Worker(bus.settings(max_payload_bytes=4096), name="w-sync")

    @worker.activity("test.whoami")
    def whoami(data: dict[str, Any]) -> Any:
        task = current_task.get()
        return {"task": [task.event_id, task.attempt], "main": threading.current_thread() is threading.main_thread()}

    worker.register("test.big", lambda data: "x" * 10_000)
    async with worker:
        await bus.task("test.whoami", "js~1.0", attempt=3)
        await bus.task("test.big", "jb~1.0")
        results = await bus.results(2)
    assert results[("js~1.0", 3)].output == {"task": ["js~1.0", 3], "main": False}
    big = results[("jb~1.0", 1)]
    assert not big.ok and (big.error or "").startswith("output too large")


async def test_concurrency_is_bounded(bus: Bus) -> None:
    worker = Worker(bus.settings(), name="w-narrow", concurrency=2)
    running = peak = 0

    @worker.activity("test.slow")
    async def slow(data: dict[str, Any]) -> Any:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await anyio.sleep(0.2)
        running -= 1
        return data

    async with worker:
        for i in range(6):
            await bus.task("test.slow", f"jc~1.{i}")
        results = await bus.results(6)
    assert all(r.ok for r in results.values())
    assert peak == 2


async def test_cancel_notice_stops_a_running_activity(bus: Bus) -> None:
    async with demo_worker(bus):
        await bus.task("demo.sleep", "jx~1.0", input={"seconds": 30})
        await wait_for(bus.runs, what="demo.sleep started")
        await bus.nc.publish(names.activity_cancel_subject("jx~1.0"), b"")
        result = await bus.result()
    assert not result.ok and "cancelled" in (result.error or "")


async def test_bad_names_and_settings_are_refused(bus: Bus) -> None:
    worker = Worker(bus.settings())
    for bad in ("bot.echo", "demo.*", "", "a..b"):
        with pytest.raises(ActivityNameError):
            worker.register(bad, demo.echo)
    with pytest.raises(ValueError, match="bot and pool"):
        Worker(bus.settings(), bot="b1")
    with pytest.raises(ValueError, match="nothing to serve"):
        await worker.run()


async def took_and_died(bus: Bus, activity: str, event_id: str, attempt: int, claimed: bool) -> None:
    """A worker takes the task (and, if ``claimed``, claims its attempt), then dies: no ack, no result."""
    durable = names.activity_consumer(activity)
    config = task_consumer_config(durable, names.activity_subject(activity), ack_wait=0.5)
    await bus.js.add_consumer(names.STREAM_ACTIVITIES, config)
    dying = await bus.js.pull_subscribe_bind(durable=durable, stream=names.STREAM_ACTIVITIES)
    await bus.task(activity, event_id, attempt=attempt, input={"x": 1})
    taken = await dying.fetch(1, timeout=5)
    assert taken[0].metadata.num_delivered == 1
    if claimed:
        await bus.js.publish(names.activity_claim_subject(event_id, attempt), b"w-dead 1",
                             headers={"Nats-Expected-Last-Subject-Sequence": "0"})
    await dying.unsubscribe()


async def settled(bus: Bus, activity: str) -> None:
    async def done() -> bool:
        info = await bus.js.consumer_info(names.STREAM_ACTIVITIES, names.activity_consumer(activity))
        return bool(info.num_ack_pending == 0 and info.num_pending == 0)

    await wait_for(done, what=f"every {activity} task acked")


async def test_attempt_started_by_a_worker_that_died_is_reported_failed_not_run(bus: Bus) -> None:
    """The worker that had it claimed the attempt and died mid-run: the next worker does not run
    the attempt a second time but reports it failed, so the retry policy decides."""
    await took_and_died(bus, "demo.echo", "jd~1.0", 2, claimed=True)
    async with demo_worker(bus, activity_ack_wait_s=0.5):
        result = await bus.result()
        assert (result.event_id, result.attempt, result.ok) == ("jd~1.0", 2, False)
        assert result.error == "attempt 2 was delivered again: the worker that had it stopped mid-run"
        await settled(bus, "demo.echo")
    assert bus.runs() == []


async def test_delivery_lost_before_any_claim_runs_on_the_next_one(bus: Bus) -> None:
    """Delivered, never started (say, lost in a NATS restart): no claim, so the next delivery runs it."""
    await took_and_died(bus, "demo.echo", "jn~1.0", 1, claimed=False)
    async with demo_worker(bus, activity_ack_wait_s=0.5):
        result = await bus.result()
        await settled(bus, "demo.echo")
    assert (result.event_id, result.ok, result.output) == ("jn~1.0", True, {"x": 1})
    assert [(run["event_id"], run["attempt"]) for run in bus.runs()] == [("jn~1.0", 1)]


async def test_second_copy_of_a_claimed_task_is_dropped(bus: Bus) -> None:
    """A task published twice for one attempt (beyond JetStream's duplicate window): the worker
    that claimed it reports; the copy is acked with no run and no result."""
    await bus.js.publish(names.activity_claim_subject("jc~1.0", 1), b"w-other 1",
                         headers={"Nats-Expected-Last-Subject-Sequence": "0"})
    async with demo_worker(bus):
        await bus.task("demo.echo", "jc~1.0", input={"copy": True})
        await bus.task("demo.echo", "jk~1.0", input={"other": True})
        result = await bus.result()
        await settled(bus, "demo.echo")
    assert result.event_id == "jk~1.0"
    assert (await bus.js.stream_info(names.STREAM_RESPONSES)).state.messages == 1
    assert [run["event_id"] for run in bus.runs()] == ["jk~1.0"]


async def test_redelivery_after_a_lost_ack_gets_the_same_result_without_a_second_run(
        bus: Bus, monkeypatch: pytest.MonkeyPatch) -> None:
    lost: list[int] = []
    real_ack = Msg.ack

    async def ack_lost_once(msg: Msg) -> None:
        if not lost:
            lost.append(msg.metadata.num_delivered)  # the ack never reaches the server
            return
        await real_ack(msg)

    monkeypatch.setattr(Msg, "ack", ack_lost_once)
    async with demo_worker(bus, activity_ack_wait_s=0.5):
        await bus.task("demo.add", "ja~1.0", input={"a": 1, "b": 2})
        first = await bus.result()
        # Redelivered to the same worker after the ack wait: it answers from what it remembers.
        second = await bus.result(within=10)

        async def acked() -> bool:
            info = await bus.js.consumer_info(names.STREAM_ACTIVITIES, names.activity_consumer("demo.add"))
            return bool(info.num_ack_pending == 0 and info.num_pending == 0)

        await wait_for(acked, what="the redelivered task acked")
    assert lost == [1]
    assert first == second and first.ok and first.output == {"sum": 3}
    assert len(bus.runs()) == 1
