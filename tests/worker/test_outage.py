"""NATS restarted while a worker publishes a result: the result gets through, the attempt runs once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import nats
import pytest

from ee.servers import ServerProcess, nats_server
from shared import names
from shared.messages import ActivityResult, Codec
from worker import Worker, demo
from worker.streams import ensure_streams

from .conftest import Bus, wait_for

pytestmark = pytest.mark.anyio

_results = Codec(ActivityResult, names.ACTIVITY_RESPONSE)


@pytest.fixture
async def private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Bus, ServerProcess]]:
    """A nats-server of this test alone (free to be stopped), with the worker's streams."""
    server = nats_server(tmp_path / "nats").start()
    ledger = tmp_path / "ledger.jsonl"
    monkeypatch.setenv("EE_DEMO_LEDGER", str(ledger))
    nc = await nats.connect(server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
    js = nc.jetstream()
    await ensure_streams(js)
    try:
        yield Bus(server.url, nc, js, ledger), server
    finally:
        await nc.close()
        server.stop()


async def stored_results(bus: Bus) -> list[ActivityResult]:
    info = await bus.js.stream_info(names.STREAM_RESPONSES)
    found = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        found.append(_results.decode((await bus.js.get_msg(names.STREAM_RESPONSES, seq)).data or b""))
    return found


async def test_result_published_across_a_nats_restart(private: tuple[Bus, ServerProcess]) -> None:
    bus, server = private
    worker = Worker(bus.settings(activity_ack_wait_s=1.0), name="w-outage")
    demo.register(worker)
    async with worker:
        await bus.task("demo.sleep", "jo~1.0", input={"seconds": 0.5})
        await wait_for(bus.runs, what="demo.sleep started")
        # NATS goes away (a clean stop: JetStream keeps what it acknowledged) while the activity runs;
        # it finishes and its result publish waits through the outage.
        await anyio.to_thread.run_sync(server.stop)
        await wait_for(lambda: not worker._running and worker._in_hand, within=10,
                       what="the activity done and its result not yet published")
        await anyio.to_thread.run_sync(server.start)

        async def reported() -> bool:
            info = await bus.js.consumer_info(names.STREAM_ACTIVITIES, names.activity_consumer("demo.sleep"))
            return bool(info.num_ack_pending == 0 and info.num_pending == 0) and not worker._in_hand

        await wait_for(reported, within=30, what="the result stored and the task acked")
        results = await stored_results(bus)
    # Stored at least once (a publish retried across the outage may be stored twice), always the
    # same result; the activity ran once.
    assert results and {(r.event_id, r.attempt, r.ok) for r in results} == {("jo~1.0", 1, True)}
    assert [r.output for r in results] == [{"seconds": 0.5}] * len(results)
    assert len(bus.runs()) == 1
