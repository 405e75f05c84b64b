"""Bots, graceful stop and the ``python -m worker`` entry point."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType

from shared import names
from shared.messages import BotHeartbeat, Codec
from shared.streams import STREAM_MAX_BYTES
from worker import Worker, demo
from worker.streams import activities_stream_config, ensure_streams, responses_stream_config

from .conftest import Bus, wait_for

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
_beats = Codec(BotHeartbeat, names.BOTS_HEARTBEAT)


async def test_streams_are_created_idempotently(bus: Bus) -> None:
    await ensure_streams(bus.js)
    await ensure_streams(bus.js)
    activities = (await bus.js.stream_info(names.STREAM_ACTIVITIES)).config
    responses = (await bus.js.stream_info(names.STREAM_RESPONSES)).config
    assert activities.subjects == activities_stream_config().subjects == ["activity.execute.>"]
    assert activities.retention == activities_stream_config().retention
    assert activities.retention == RetentionPolicy.WORK_QUEUE
    assert activities.storage == responses.storage == StorageType.FILE
    assert responses.retention == RetentionPolicy.WORK_QUEUE  # a result leaves once applied
    assert responses.subjects == responses_stream_config().subjects == [names.ACTIVITY_RESPONSE]
    assert activities.max_bytes == responses.max_bytes == STREAM_MAX_BYTES
    assert activities.discard == responses.discard == DiscardPolicy.NEW  # full: refuse, never drop


async def test_a_stream_with_an_older_retention_is_kept_not_fatal(bus: Bus) -> None:
    """A results stream made by an older version (limits retention): JetStream cannot change
    retention in place, so the worker keeps it as it is and still starts."""
    await bus.js.delete_stream(names.STREAM_RESPONSES)
    old = responses_stream_config()
    old.retention = RetentionPolicy.LIMITS
    await bus.js.add_stream(old)
    await ensure_streams(bus.js)
    assert (await bus.js.stream_info(names.STREAM_RESPONSES)).config.retention == RetentionPolicy.LIMITS
    claims = (await bus.js.stream_info(names.STREAM_CLAIMS)).config
    assert (claims.max_msgs_per_subject, claims.storage) == (1, StorageType.FILE)


async def test_bot_beats_serves_its_own_tasks_and_says_goodbye(bus: Bus) -> None:
    beats = await bus.nc.subscribe(names.bot_heartbeat_subject("bot-7"))
    worker = Worker(bus.settings(), name="w-bot", bot="bot-7", pool="erp", bot_lease_s=0.3)
    demo.register(worker)
    async with worker:
        first = _beats.decode((await beats.next_msg(timeout=5)).data)
        second = _beats.decode((await beats.next_msg(timeout=5)).data)
        await bus.task("demo.echo", "jb~1.0", subject=names.bot_activity_subject("bot-7", "demo.echo"),
                       bot="bot-7", input={"on": "bot"})
        result = await bus.result()
    assert (first.bot, first.pool, first.lease_s, first.worker, first.stopping) == ("bot-7", "erp", 0.3, "w-bot",
                                                                                    False)
    assert not second.stopping
    assert result.ok and result.output == {"on": "bot"}

    async def goodbye() -> bool:
        while True:
            beat = _beats.decode((await beats.next_msg(timeout=5)).data)
            if beat.stopping:
                return True

    assert await wait_for(goodbye)


async def test_graceful_stop_finishes_running_activity(bus: Bus) -> None:
    worker = Worker(bus.settings(), name="w-stop")
    demo.register(worker)
    async with anyio.create_task_group() as tg:
        await tg.start(worker.run)
        await bus.task("demo.sleep", "jg~1.0", input={"seconds": 0.5})
        await wait_for(bus.runs, what="demo.sleep started")
        worker.stop()
        worker.stop()  # idempotent
    result = await bus.result()
    assert result.ok and result.output == {"seconds": 0.5}
    info = await bus.js.stream_info(names.STREAM_ACTIVITIES)
    assert info.state.messages == 0


async def test_stop_past_grace_reports_the_cut_off_attempt_failed(bus: Bus) -> None:
    worker = Worker(bus.settings(shutdown_grace_s=0.2), name="w-grace")
    demo.register(worker)
    started = anyio.current_time()
    async with anyio.create_task_group() as tg:
        await tg.start(worker.run)
        await bus.task("demo.sleep", "jh~1.0", input={"seconds": 30})
        await wait_for(bus.runs, what="demo.sleep started")
        worker.stop()
    assert anyio.current_time() - started < 5
    # Reported failed and acked, not handed back: the attempt is not run a second time
    # (the job's retry policy decides whether a new attempt runs).
    result = await bus.result()
    assert (result.event_id, result.attempt, result.ok) == ("jh~1.0", 1, False)
    assert result.error == "attempt 1 stopped mid-run: worker w-grace shut down before it finished (grace 0.2 s)"
    info = await bus.js.consumer_info(names.STREAM_ACTIVITIES, names.activity_consumer("demo.sleep"))
    assert (info.num_ack_pending, info.num_pending) == (0, 0)
    assert len(bus.runs()) == 1


async def test_module_entry_point_serves_and_stops_on_sigterm(bus: Bus, tmp_path: Path) -> None:
    env = {**os.environ, "EE_NATS_URL": bus.url, "EE_LOG_FORMAT": "json"}
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        proc = await anyio.open_process([sys.executable, "-m", "worker", "--demo", "--name", "w-cli"], cwd=ROOT,
                                        env=env, stdout=log, stderr=subprocess.STDOUT)
    async with proc:
        try:
            await bus.task("demo.add", "jm~1.0", input={"a": 1, "b": 2})
            result = await bus.result(within=15)
            assert result.ok and result.output == {"sum": 3} and result.worker == "w-cli"
            proc.send_signal(signal.SIGTERM)
            with anyio.fail_after(10):
                code = await proc.wait()
            assert code == 0, log_path.read_text()[-2000:]
        finally:
            if proc.returncode is None:
                proc.kill()
