"""ee.Client and ee.SyncClient against a private engine: submit, wait, signal, cancel, list."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest

import ee
from ee.servers import free_port
from shared.errors import EngineUnavailable, InvalidName, InvalidWorkflow, JobNotFound, JobWaitTimeout
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
            with pytest.raises(InvalidWorkflow, match="deployed workflow by name is not supported yet"):
                await c.submit("invoice")
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
