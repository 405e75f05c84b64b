"""``ee retry`` (issue 12), against real servers with a real executor and workers: a job that
failed at an activity runs again from that node with its variables and completes; only a failed
job is retried; ``--from`` names a top-level node or is refused; two retries at once, one wins."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import nats
import pytest

from ee import exits
from reactor import contracts
from reactor.outcomes import Done, NotFailed, Retried, Stale
from reactor.scripts import Call
from shared import names
from shared.layout import Keys
from shared.messages import ActivityWait, Checkpoint, encode
from tests.support.cli import InProcessEe, StackEe
from tests.support.scripts import open_driver
from tests.support.stack import Stack


@pytest.fixture
def ee(ee_main: InProcessEe, tmp_path: Path) -> StackEe:
    """``ee(stack, *args)``: one command, in this process (tests.support.cli)."""
    return StackEe(ee_main, tmp_path, COLUMNS="200")


def refused(out: subprocess.CompletedProcess[str], code: int, words: str) -> None:
    assert out.returncode == code, (out.returncode, out.stdout, out.stderr)
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("ee: ") and words in out.stderr, out.stderr


ONCE = {"name": "once", "start": "a", "nodes": {
    "a": {"kind": "activity", "activity": "demo.echo", "input": {"v": "input.v"}, "output": "echoed", "next": "b"},
    "b": {"kind": "activity", "activity": "test.once", "input": {"marker": "input.marker"}, "output": "r",
          "next": "done"},
    "done": {"kind": "end", "output": "{echoed: vars.echoed, r: vars.r}"}}}

FAILS = {"name": "fails", "start": "a", "nodes": {
    "a": {"kind": "activity", "activity": "demo.echo", "input": {"v": "`1`"}, "output": "x", "next": "b"},
    "b": {"kind": "activity", "activity": "demo.fail", "input": {"message": "'no'"}, "next": "done"},
    "done": {"kind": "end"}}}


def test_a_job_failed_at_an_activity_is_retried_from_it_and_completes(engine: Stack, tmp_path: Path,
                                                                      ee: StackEe) -> None:
    engine.start("worker", "--activities", "tests.core.once_activities")
    job_id = engine.submit(ONCE, {"v": 7, "marker": str(tmp_path / "marker")})
    failed = engine.wait_job(job_id, 60)
    assert failed["status"] == "failed" and "the first run for marker fails" in failed["error"], failed
    keys = Keys(engine.prefix)
    r = engine.redis_client()
    assert r.ttl(keys.job(job_id)) > 0  # a finished job expires (EE_RETENTION)

    out = ee(engine, "retry", job_id, "--by", "tester")
    assert out.returncode == 0 and out.stdout.strip() == f"job {job_id} retried from node b (retry 1)", \
        out.stdout + out.stderr
    done = engine.wait_job(job_id, 60)
    assert done["status"] == "completed", done
    assert done["output"] == {"echoed": {"v": 7}, "r": {"ran": "again"}}  # the variables from before the failure
    assert done.get("error") is None and done["retries"] == 1

    status = json.loads(ee(engine, "status", job_id, "--json").stdout)
    retried = [h for h in status["history"] if h["event"] == "retried"]
    assert [(h["node"], h["detail"]) for h in retried] == [("b", "by tester from b")], status["history"]
    assert "retries:" in ee(engine, "status", job_id).stdout
    assert r.zscore(keys.job_status("completed"), job_id) is not None
    assert r.zscore(keys.job_status("failed"), job_id) is None
    # Node a ran once: the retry resumed at b, it did not start over.
    assert sum(1 for (event, _), n in engine.executions().items() if event.startswith(job_id)) == 1

    refused(ee(engine, "retry", job_id), exits.BAD_INPUT,
            f"job '{job_id}' is completed: only a failed job can be retried")
    refused(ee(engine, "retry", "nobody"), exits.NOT_FOUND, "unknown job 'nobody'")


def test_retry_from_a_node_and_refusals(engine: Stack, ee: StackEe) -> None:
    job_id = engine.submit(FAILS)
    assert engine.wait_job(job_id, 60)["status"] == "failed"
    refused(ee(engine, "retry", job_id, "--from", "zz"), exits.BAD_INPUT,
            f"job '{job_id}' cannot be retried from 'zz': its workflow has no top-level node of that id "
            "(one of: a, b, done)")
    out = ee(engine, "retry", job_id, "--from", "a", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) | {"fence": 0} == {"job_id": job_id, "status": "running", "node": "a",
                                                     "retries": 1, "fence": 0}
    again = engine.wait_job(job_id, 60)
    assert again["status"] == "failed" and again["retries"] == 1
    # From a, so a ran twice in all; the job failed at b again.
    assert sum(1 for (event, _), n in engine.executions().items() if event.startswith(job_id)) == 4


def test_two_retries_at_once_one_wins(engine: Stack) -> None:
    job_id = engine.submit(FAILS)
    assert engine.wait_job(job_id, 60)["status"] == "failed"

    async def both() -> list[Any]:
        nc = await nats.connect(engine.nats.url)
        try:
            body = json.dumps({"job_id": job_id, "by": "racer"}).encode()
            return list(await asyncio.gather(*(nc.request(names.reactor_subject("retry"), body, timeout=10)
                                               for _ in range(2))))
        finally:
            await nc.close()

    replies = asyncio.run(both())
    codes = sorted((reply.headers or {}).get("Nats-Service-Error-Code", "") for reply in replies)
    assert codes == ["", "409"], [(r.headers, r.data) for r in replies]
    assert engine.wait_job(job_id, 60)["retries"] == 1
    history = (engine.job(job_id) or {})["history"]
    assert [h["detail"] for h in history if h["event"] == "retried"] == ["by racer from b"]


async def _finish_then_retry(url: str) -> None:
    keys = Keys("ee:")
    async with open_driver(url) as d:
        await d.one(d.start("j"))
        await d.one(d.park("j", 0, [ActivityWait(node="w", activity="demo.echo")]))
        # A failed finish that names its checkpoint stores it (the node that failed, as the interpreter says).
        failed_at = encode(Checkpoint(node="x", vars={"k": 1}))
        out = await d.one(contracts.finish(keys, job_id="j", fence=1, status="failed", output=b"null", error="why",
                                           at="t", build="b", lease_at="1", history=[], checkpoint=failed_at))
        assert isinstance(out, Done)
        assert await d.r.hget(keys.job("j"), "checkpoint") == failed_at
        assert await d.r.ttl(keys.job("j")) > 0

        def retry(fence: int, checkpoint: bytes = b"") -> Call[contracts.RetryOutcome]:
            return contracts.retry(keys, job_id="j", fence=fence, checkpoint=checkpoint, node="x", by="me", at="t",
                                   lease_at="99")

        assert await d.one(retry(1)) == Stale(fence=2)
        retried = await d.one(retry(2))
        assert isinstance(retried, Retried) and (retried.fence, retried.retries) == (3, 1)
        assert (retried.wake.checkpoint, retried.wake.event_id, retried.wake.fence) == (failed_at.decode(), "", 3)
        job = await d.r.hgetall(keys.job("j"))
        assert job[b"status"] == b"running" and b"error" not in job and b"finished" not in job
        assert await d.r.ttl(keys.job("j")) == -1 and await d.r.ttl(keys.job_history("j")) == -1
        assert await d.r.zscore(keys.wakes, "j") == 99
        assert await d.r.zscore(keys.job_status("failed"), "j") is None
        assert await d.one(retry(3)) == NotFailed(status="running")
        # A finish without a checkpoint leaves the stored one.
        await d.one(d.finish("j", 3, "failed"))
        assert await d.r.hget(keys.job("j"), "checkpoint") == failed_at


def test_a_failed_finish_stores_its_checkpoint_and_retry_resumes_it(stack: Stack) -> None:
    """finish.lua and retry.lua on their own: the stored checkpoint, the fence, the expiry."""
    asyncio.run(_finish_then_retry(stack.redis.url))
