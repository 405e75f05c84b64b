"""Every accepted job is visible: pending before any executor takes it, refused with its reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ee import SyncClient
from ee.servers import free_port
from tests.support.cli import InProcessEe, StackEe
from tests.support.stack import Stack, poll
from tests.workflows import chain


@pytest.fixture
def ee(ee_main: InProcessEe, tmp_path: Path) -> StackEe:
    """``ee(stack, *args, env=...)``: one command, in this process (tests.support.cli)."""
    return StackEe(ee_main, tmp_path)


def test_accepted_job_no_executor_took_is_pending_then_runs(stack: Stack, tmp_path: Path, ee: StackEe) -> None:
    stack.reactor()
    stack.worker()
    stack.wait_ready()
    path = tmp_path / "one.json"
    path.write_text(json.dumps(chain(1)))
    submitted = ee(stack, "submit", str(path), "--input", '{"v": 9}')
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip()
    shown = json.loads(ee(stack, "status", job_id, "--json").stdout)
    assert (shown["status"], shown["waiting_reason"]) == ("pending", "no executor has taken it yet")
    assert shown["output"] is None and shown["error"] is None and shown["accepted"]
    text = ee(stack, "status", job_id)
    assert text.returncode == 0 and "pending" in text.stdout and "no executor has taken it yet" in text.stdout
    unknown = ee(stack, "status", "never-submitted")
    assert unknown.returncode == 3 and "unknown job 'never-submitted'" in unknown.stderr
    stack.executor()
    assert stack.wait_job(job_id)["output"] == {"v": 9}


def test_refused_job_shows_refused_with_its_reason(engine: Stack, ee: StackEe) -> None:
    bad = chain(2)
    bad["nodes"]["s1"]["next"] = "nowhere"
    engine.submit(bad, {}, job_id="dangling")
    poll(lambda: (engine.job("dangling") or {}).get("refused"), 20, 0.05, "the refusal record")
    shown = json.loads(ee(engine, "status", "dangling", "--json").stdout)
    assert shown["status"] == "failed" and "names unknown node 'nowhere'" in shown["refused"]
    assert shown["error"] == shown["refused"]
    text = ee(engine, "status", "dangling").stdout
    assert "refused" in text and "nowhere" in text


def test_waiting_job_cancelled_leaves_the_stream(stack: Stack, ee: StackEe) -> None:
    stack.extra_env.update(EE_JOBS_REDELIVERY_MAX_S="0.3")
    stack.reactor()
    stack.executor(EE_BUILD="old", EE_TEST_FORGET_NODE_KINDS="activity")
    stack.wait_ready()
    job_id = stack.submit(chain(1), {"v": 1})
    poll(lambda: (stack.job(job_id) or {}).get("waiting_for"), 20, 0.05, "the waiting record")
    cancelled = ee(stack, "cancel", job_id)
    assert cancelled.returncode == 0, cancelled.stderr
    assert stack.wait_job(job_id)["status"] == "cancelled"


def ee_jobs(ee: StackEe, stack: Stack, *args: str, **env: str) -> tuple[list[dict[str, Any]], str]:
    out = ee(stack, "jobs", "--json", *args, env=env)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout), out.stderr


def test_jobs_lists_accepted_jobs_no_executor_took_as_pending_among_the_others(stack: Stack, ee: StackEe) -> None:
    stack.reactor()
    stack.worker()
    executor = stack.executor()
    stack.wait_ready()
    done = stack.submit(chain(1), {"v": 0}, job_id="ran-first")
    assert stack.wait_job(done)["status"] == "completed"
    assert executor.stop() == 0
    waiting = stack.submit_many(chain(1), [{"v": i} for i in range(3)], "not-taken")

    rows, warned = ee_jobs(ee, stack)
    assert warned == ""
    assert [row["job_id"] for row in rows] == [*reversed(waiting), done]  # newest first, each once
    for row in rows[:3]:
        assert (row["status"], row["waiting_for"], row["waiting_reason"]) == (
            "pending", "an executor", "no executor has taken it yet")
        assert row["accepted"] and row["stream_seq"] >= 1 and row["output"] is None and "history" not in row
    assert [row["job_id"] for row in ee_jobs(ee, stack, "--status", "pending")[0]] == list(reversed(waiting))
    assert [row["job_id"] for row in ee_jobs(ee, stack, "--status", "completed")[0]] == [done]
    assert [row["job_id"] for row in ee_jobs(ee, stack, "--limit", "2")[0]] == list(reversed(waiting))[:2]
    text = ee(stack, "jobs")
    assert text.returncode == 0 and text.stdout.count("no executor has taken it yet") == 3, text.stdout
    with SyncClient(stack.nats.url, stack.redis.url) as client:
        assert [row["job_id"] for row in client.jobs()] == [*reversed(waiting), done]
        assert [row["job_id"] for row in client.jobs(status="pending", limit=1)] == [waiting[-1]]

    # NATS out of reach: what Redis holds, and a warning.
    rows, warned = ee_jobs(ee, stack, EE_NATS_URL=f"nats://127.0.0.1:{free_port()}")
    assert [row["job_id"] for row in rows] == [done]
    assert "jobs accepted that no executor has taken yet are not listed" in warned and "NATS at" in warned

    stack.executor()
    assert {j: job["status"] for j, job in stack.wait_jobs(waiting).items()} == dict.fromkeys(waiting, "completed")
    rows, _ = ee_jobs(ee, stack)
    assert sorted(row["job_id"] for row in rows) == sorted([*waiting, done])
    assert {row["status"] for row in rows} == {"completed"}
