"""Retention of finished jobs (EE_RETENTION) and ``ee purge``, on a running engine.

A finished job's keys carry a TTL set by its finishing step; the reactor's sweep takes it out of
the job indexes once that TTL has run; a parked job of the same age keeps everything. ``ee purge``
removes finished jobs by hand and never a job still waiting.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from shared.config import load_settings
from shared.errors import ConfigError
from tests.support.cli import InProcessEe
from tests.support.stack import Stack, poll
from tests.workflows import chain

GATE = {"name": "gate", "start": "ask", "nodes": {
    "ask": {"kind": "wait_signal", "signal": "go", "timeout_s": 3600, "next": "done"},
    "done": {"kind": "end", "output": "'through'"}}}
FAILS = {"name": "refuser", "start": "no", "nodes": {"no": {"kind": "fail", "error": "not today"}}}


EeOut = Callable[..., str]


@pytest.fixture
def ee(ee_main: InProcessEe) -> EeOut:
    """``ee(stack, *args, code=0)``: one command, in this process (tests.support.cli), exiting
    ``code`` (a refusal: one line, no traceback); its stdout."""
    def run(stack: Stack, *args: str, code: int = 0) -> str:
        done = ee_main(*args, env=stack.env(), cwd=stack.workdir)
        assert done.code == code, (args, done.code, done.out, done.err)
        if code >= 2:
            assert done.err.count("\n") == 1 and "Traceback" not in done.err, done.err
        return done.out

    return run


def listed(stack: Stack) -> set[str]:
    """The jobs ``ee jobs`` lists (its reader, without a process of its own)."""
    return {row["job_id"] for row in stack.inspector().jobs(limit=1000)}


def job_keys(stack: Stack, job_id: str) -> list[str]:
    k = stack.inspector().keys
    return [k.job(job_id), k.job_history(job_id)]


def indexed(stack: Stack, job_id: str) -> list[str]:
    """The job indexes that hold ``job_id``."""
    r, k = stack.redis_client(), stack.inspector().keys
    found = [k.jobs] if r.zscore(k.jobs, job_id) is not None else []
    return found + [s for s in ("pending", "running", "parked", "completed", "failed", "cancelled")
                    if r.zscore(k.job_status(s), job_id) is not None]


def test_finished_jobs_expire_after_the_retention_parked_ones_stay(stack: Stack, ee: EeOut) -> None:
    stack.reactor(EE_RETENTION="2s")
    stack.executor()
    stack.worker()
    stack.wait_ready()
    parked = stack.submit(GATE, {}, job_id="parked-1")
    stack.wait_job(parked, statuses=("parked",))
    done = stack.submit(chain(1), {"v": 1}, job_id="done-1")
    stack.wait_job(done)
    r = stack.redis_client()
    for key in job_keys(stack, done):
        assert 0 < r.pttl(key) <= 2000, key
    for key in job_keys(stack, parked):
        assert r.pttl(key) == -1, key  # no TTL: a waiting job is kept whatever its age

    poll(lambda: done not in listed(stack) and not indexed(stack, done), 20, 0.2, "the finished job to go")
    assert "unknown job 'done-1'" in subprocess.run(
        [sys.executable, "-m", "ee", "status", done], env=stack.env(), capture_output=True, text=True,
        timeout=60).stderr
    assert not r.exists(*job_keys(stack, done))
    # The parked job, older than the retention by now, keeps its keys, its indexes and its wait.
    assert r.exists(*job_keys(stack, parked)) == 2 and indexed(stack, parked) == [stack.inspector().keys.jobs,
                                                                                    "parked"]
    assert parked in listed(stack)
    ee(stack, "signal", parked, "go")
    assert stack.wait_job(parked)["status"] == "completed"


def test_purge_removes_only_finished_jobs(engine: Stack, ee: EeOut) -> None:
    completed = [engine.submit(chain(1), {"v": i}, job_id=f"c-{i}") for i in range(5)]
    failed = engine.submit(FAILS, {}, job_id="f-1")
    parked = engine.submit(GATE, {}, job_id="p-1")
    for job_id in [*completed, failed]:
        engine.wait_job(job_id)
    engine.wait_job(parked, statuses=("parked",))
    r = engine.redis_client()
    assert r.pttl(engine.inspector().keys.job(failed)) > 86400_000  # the default retention: 7 days

    dry: dict[str, Any] = json.loads(ee(engine, "purge", "--older-than", "0", "--dry-run", "--json"))
    assert dry["would_remove"] == 6 and dry["removed"] == 0
    assert dry["by_status"] == {"completed": 5, "failed": 1, "cancelled": 0}
    assert set(completed) | {failed, parked} <= listed(engine)  # a dry run removes nothing
    assert "removed 0 finished jobs" in ee(engine, "purge", "--older-than", "1h")  # none that old

    out = json.loads(ee(engine, "purge", "--older-than", "0", "--status", "completed", "--batch", "2", "--json"))
    assert out["removed"] == 5 and out["by_status"] == {"completed": 5}
    left = listed(engine)
    assert not left & set(completed) and {failed, parked} <= left
    for job_id in completed:
        assert not r.exists(*job_keys(engine, job_id)) and not indexed(engine, job_id)

    assert "removed 1 finished jobs (completed 0, failed 1, cancelled 0)" in ee(engine, "purge", "--older-than", "0")
    assert not indexed(engine, failed) and listed(engine) == {parked}
    # The running engine's parked job was not disturbed: its wait is there, and it completes.
    assert engine.job(parked)["events"] == [f"{parked}~1.0"]  # type: ignore[index]
    ee(engine, "signal", parked, "go")
    assert engine.wait_job(parked)["status"] == "completed"


def test_purge_refuses_bad_input(engine: Stack, ee: EeOut) -> None:
    ee(engine, "purge", "--older-than", "soon", code=2)
    ee(engine, "purge", "--older-than", "1d", "--status", "parked", code=2)
    ee(engine, "purge", code=2)


def test_retention_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().retention_s == 7 * 86400
    for text, seconds in (("0", 0.0), ("2s", 2.0), ("36h", 36 * 3600.0), ("30d", 30 * 86400.0)):
        monkeypatch.setenv("EE_RETENTION", text)
        assert load_settings().retention_s == seconds
    for bad in ("forever", "0.5s", "-1"):
        monkeypatch.setenv("EE_RETENTION", bad)
        with pytest.raises(ConfigError, match="EE_RETENTION"):
            load_settings()
