"""ee.Client and ee.SyncClient against a private engine: submit, wait, signal, cancel, list."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import anyio
import pytest

import ee
import ee.api
from ee.servers import free_port
from shared.errors import (
    EngineUnavailable,
    InvalidName,
    InvalidWorkflow,
    JobFinished,
    JobNotFound,
    JobWaitTimeout,
    WorkflowNotDeployed,
)
from tests.support.stack import Stack

ROOT = Path(__file__).resolve().parents[2]
APPROVAL = json.loads((ROOT / "examples" / "approval.json").read_text())
ECHO: dict[str, Any] = {"name": "echo", "version": 1, "start": "e", "nodes": {
    "e": {"kind": "activity", "activity": "demo.echo", "input": {"v": "input.v"}, "output": "r", "next": "done"},
    "done": {"kind": "end", "output": "vars.r"}}}


def client(stack: Stack) -> ee.Client:
    return ee.Client(stack.nats.url, stack.redis.url, redis_prefix=stack.prefix)


async def until_parked(handle: ee.JobHandle) -> None:
    with anyio.fail_after(20):
        while True:
            if await handle.status() == "parked":
                return
            await anyio.sleep(0.02)


def test_submit_wait_signal_cancel_and_list(engine: Stack, tmp_path: Path) -> None:
    path = tmp_path / "echo.json"
    path.write_text(json.dumps(ECHO))

    async def go() -> None:
        async with client(engine) as c:
            done = await (await c.submit(str(path), {"v": 7}, job_id="client-echo")).result(timeout=20)
            assert done == ee.JobResult(job_id="client-echo", status="completed", output={"v": 7})
            assert done.ok
            parked = await c.submit(APPROVAL, {"amount": 5})
            with pytest.raises(JobWaitTimeout) as timed_out:
                await parked.result(timeout=0.3)
            assert timed_out.value.job_id == parked.job_id and timed_out.value.status in ("pending", "parked")
            await until_parked(parked)
            events = await c.events(job=parked.job_id)
            assert [e["kind"] for e in events] == ["signal"]
            seen = engine.inspector().events(job=parked.job_id)
            assert [e["event_id"] for e in events] == [e["event_id"] for e in seen]
            assert await parked.signal("approval", {"ok": True}) is True
            assert (await parked.result(timeout=20)).output == {"paid": 5}
            other = await c.submit(APPROVAL, {"amount": 1})
            await until_parked(other)
            await c.handle(other.job_id).cancel("not needed")
            cancelled = await other.result(timeout=20)
            assert cancelled.status == "cancelled" and not cancelled.ok
            listed = await c.jobs(limit=10)
            assert {j["job_id"] for j in listed} >= {"client-echo", parked.job_id, other.job_id}
            assert (await c.jobs(status="cancelled"))[0]["job_id"] == other.job_id
            assert (await c.job("client-echo"))["output"] == {"v": 7}

    anyio.run(go)


def test_mistakes_are_the_engines_errors(engine: Stack) -> None:
    async def go() -> None:
        async with client(engine) as c:
            with pytest.raises(WorkflowNotDeployed, match="no workflow 'invoice' is deployed"):
                await c.submit("invoice")
            with pytest.raises(InvalidWorkflow, match="neither a workflow file nor a deployed workflow"):
                await c.submit("not a name")
            with pytest.raises(InvalidWorkflow, match="cannot read"):
                await c.submit("missing.json")
            with pytest.raises(InvalidWorkflow):
                await c.submit({"start": "nowhere", "nodes": {}})
            with pytest.raises(InvalidName):
                await c.submit(ECHO, job_id="bad id")
            with pytest.raises(TypeError, match="priority"):
                await c.submit(ECHO, priority=1)
            with pytest.raises(JobNotFound):
                await c.job("never-submitted")
            with pytest.raises(JobNotFound):
                await c.handle("never-submitted").cancel()
            with pytest.raises(JobNotFound):
                await c.handle("never-submitted").result(timeout=5)
            with pytest.raises(JobNotFound):
                await c.handle("never-submitted").status()
            done = await (await c.submit(ECHO, {"v": 2})).result(timeout=20)
            assert await c.handle(done.job_id).status() == "completed"

    anyio.run(go)


def test_unreachable_servers_are_engine_unavailable(engine: Stack) -> None:
    async def go() -> None:
        with pytest.raises(EngineUnavailable, match="NATS at"):
            async with ee.Client(f"nats://127.0.0.1:{free_port()}", engine.redis.url):
                pass
        async with ee.Client(engine.nats.url, f"redis://127.0.0.1:{free_port()}/0") as c:
            with pytest.raises(EngineUnavailable, match="Redis at"):
                await c.jobs()

    anyio.run(go)


def test_sync_client_reads_the_environment(engine: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EE_NATS_URL", engine.nats.url)
    monkeypatch.setenv("EE_REDIS_URL", engine.redis.url)
    with ee.SyncClient() as c:
        assert c.settings.nats_url == engine.nats.url
        handle = c.submit(ECHO, {"v": "sync"})
        assert handle.result(timeout=20).output == {"v": "sync"}
        assert handle.status() == "completed"
        assert c.jobs(limit=1)[0]["job_id"] == handle.job_id
        assert c.events(job=handle.job_id) == []


def test_a_finished_job_refuses_signal_and_cancel_with_job_finished(engine: Stack) -> None:
    async def go() -> None:
        async with client(engine) as c:
            job = await c.submit(ECHO, {"v": 1})
            assert (await job.result(timeout=20)).status == "completed"
            with pytest.raises(JobFinished) as refused:
                await job.cancel()
            assert (refused.value.job_id, refused.value.status) == (job.job_id, "completed")
            with pytest.raises(JobFinished):
                await job.signal("approval", {"ok": True})

    anyio.run(go)


def test_signal_and_cancel_reach_a_job_no_executor_started_yet(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    stack.reactor()
    stack.wait_ready()
    monkeypatch.setattr(ee.api, "START_PATIENCE_S", 0.5)

    async def go() -> tuple[str, str]:
        async with client(stack) as c:
            waiting = await c.submit(APPROVAL, {"amount": 3})
            with pytest.raises(EngineUnavailable, match=r"no executor started it within 0\.5 s"):
                await waiting.signal("approval", {"ok": True})
            never = await c.submit(ECHO, {"v": "never"})
            await never.cancel("changed my mind")
            return waiting.job_id, never.job_id

    waiting, never = anyio.run(go)
    monkeypatch.setattr(ee.api, "START_PATIENCE_S", 30.0)  # the executor below takes its time to start
    stack.executor()
    stack.worker()

    async def after() -> None:
        async with client(stack) as c:
            assert (await c.handle(never).result(timeout=20)).status == "cancelled"
            handle = c.handle(waiting)
            await handle.signal("approval", {"ok": True})  # taken at once, or kept for the wait
            assert (await handle.result(timeout=20)).output == {"paid": 3}

    anyio.run(after)
    ran = {event_id for event_id, _ in stack.executions()}
    assert any(e.startswith(f"{waiting}~") for e in ran) and not any(e.startswith(f"{never}~") for e in ran)


def test_arguments_then_environment_then_stack_file(engine: Stack, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = f"nats://127.0.0.1:{free_port()}"
    (tmp_path / ".ee").mkdir()
    # This test's process stands for the stack's `ee up`: a stack file is used while its pid runs.
    (tmp_path / ".ee" / "stack.json").write_text(json.dumps({"nats_url": engine.nats.url,
                                                             "redis_url": engine.redis.url, "pid": os.getpid()}))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EE_NATS_URL", raising=False)
    monkeypatch.delenv("EE_REDIS_URL", raising=False)
    with ee.SyncClient() as c:
        assert (c.settings.nats_url, c.settings.redis_url) == (engine.nats.url, engine.redis.url)
        assert c.submit(ECHO, {"v": "from the stack file"}).result(timeout=20).ok
    monkeypatch.setenv("EE_NATS_URL", elsewhere)
    with pytest.raises(EngineUnavailable, match=re.escape(elsewhere)):
        ee.SyncClient().__enter__()
    with ee.SyncClient(nats_url=engine.nats.url) as c:
        assert c.settings.nats_url == engine.nats.url and c.settings.redis_url == engine.redis.url


def test_nothing_configured_is_stack_not_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for variable in ("EE_NATS_URL", "EE_REDIS_URL", "EE_DEFAULT_URLS"):
        monkeypatch.delenv(variable, raising=False)

    async def go() -> None:
        async with ee.Client():
            raise AssertionError("connected without any URL")

    with pytest.raises(ee.StackNotFound):
        anyio.run(go)
