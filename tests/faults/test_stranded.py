"""Nothing sits silently pending: what no executor drives is re-offered, then marked stranded.

A stranded job carries its reason in ``ee jobs``, ``ee events`` and ``ee status``, is
listed by ``ee jobs --status stranded`` from an index (however many newer jobs there
are), gets one history entry, and leaves the index when it recovers.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared import names
from tests.faults.helpers import stream_state
from tests.support.cli import InProcessEe, StackEe
from tests.support.stack import Stack, poll
from tests.workflows import chain, sleeper


@pytest.fixture
def ee(ee_main: InProcessEe, tmp_path: Path) -> StackEe:
    """``ee(stack, *args)``: one command, in this process (tests.support.cli)."""
    return StackEe(ee_main, tmp_path)


def stranded_ids(ee: StackEe, stack: Stack, *args: str) -> list[str]:
    return [row["job_id"] for row in ee.json(stack, "jobs", "--status", "stranded", *args)]


def history_of(stack: Stack, job_id: str) -> list[dict[str, str]]:
    return stack.inspector().job(job_id)["history"]  # type: ignore[index,no-any-return]


WAITER = {"name": "waiter", "version": 1, "start": "wait", "nodes": {
    "wait": {"kind": "wait_signal", "signal": "go", "output": "go", "next": "done"},
    "done": {"kind": "end", "output": "vars.go"}}}


def test_job_nobody_resumes_is_marked_stranded_and_listed(stack: Stack, ee: StackEe) -> None:
    stack.extra_env.update(EE_WAKE_LEASE_S="0.3", EE_STRAND_AFTER="2")
    stack.reactor()
    stack.worker()
    executor = stack.executor()
    job_id = stack.submit(WAITER, {})
    stack.wait_job(job_id, statuses=("parked",))
    # Many newer jobs: a listing of one stranded job must not depend on scanning the newest.
    newer = stack.submit_many(chain(1), [{"v": i} for i in range(30)], "newer")
    stack.wait_jobs(newer, timeout=60)
    executor.kill()
    assert ee(stack, "signal", job_id, "go", "--data", '"now"').returncode == 0
    # The wake goes nowhere; its lease lapses twice; the job is marked stranded.
    poll(lambda: stranded_ids(ee, stack, "--limit", "1") == [job_id], 30, 0.2, "the job to be listed stranded")
    job = stack.job(job_id)
    assert job is not None and job["status"] == "parked" and "wake lease lapsed" in job["stranded"]
    marks = [h for h in history_of(stack, job_id) if h["event"] == "stranded"]
    assert len(marks) == 1 and "wake lease lapsed 2 times" in marks[0]["detail"], marks
    # ee events shows it too: the job's fired event, with the reason.
    rows = ee.json(stack, "events", "--job", job_id)
    assert [(r["status"], "wake lease lapsed" in r.get("stranded", "")) for r in rows] == [("fired", True)]
    assert [r["event_id"] for r in ee.json(stack, "events", "--stranded")] == [rows[0]["event_id"]]
    assert stack.redis_client().zscore("ee:stranded", job_id) is not None
    # Still offered: an executor that comes back finishes it, and it leaves the index.
    stack.executor()
    done = stack.wait_job(job_id)
    assert (done["status"], done["output"]) == ("completed", "now")
    assert stranded_ids(ee, stack) == []


def test_stranded_job_leaves_the_index_when_resumed(stack: Stack, ee: StackEe) -> None:
    stack.extra_env.update(EE_WAKE_LEASE_S="0.3", EE_STRAND_AFTER="2")
    stack.reactor()
    stack.worker()
    executor = stack.executor()
    job_id = stack.submit(sleeper(0.5), {})
    stack.wait_job(job_id, statuses=("parked",))
    executor.kill()
    poll(lambda: job_id in stranded_ids(ee, stack), 30, 0.2, "the job to be marked stranded")
    stack.executor()
    done = stack.wait_job(job_id)
    assert done["status"] == "completed" and "stranded" not in done
    assert stack.redis_client().zscore("ee:stranded", job_id) is None
    assert stranded_ids(ee, stack) == []
    assert ee.json(stack, "events", "--stranded") == []


def test_workflow_no_executor_can_run_is_reported(stack: Stack, ee: StackEe) -> None:
    stack.extra_env.update(EE_WAKE_LEASE_S="0.5")
    stack.reactor()
    stack.worker()
    executor = stack.executor()
    # Parked on a signal: nothing fires, and nothing resets its lapses, until the test sends it.
    job_id = stack.submit(WAITER, {})
    stack.wait_job(job_id, statuses=("parked",))
    # Its job message acked first: redelivered to the next executor, it would carry the readable
    # workflow into that executor's cache, which would then run the job instead of refusing it.
    poll(lambda: stream_state(stack, names.STREAM_JOBS)[0] == 0, 30, 0.05, "the job message acked")
    executor.kill()
    client = stack.redis_client()
    digest = client.hget(f"ee:job:{{{job_id}}}", "digest").decode()  # type: ignore[union-attr]
    # A workflow this build cannot read (as if written by a newer version).
    client.set(f"ee:workflow:{digest}", json.dumps({"name": "x", "start": "a", "nodes": {"a": {"kind": "quantum"}}}))
    stack.executor()
    assert ee(stack, "signal", job_id, "go", "--data", '"now"').returncode == 0
    poll(lambda: (stack.job(job_id) or {}).get("stranded"), 30, 0.1, "the strand report")
    job = stack.job(job_id)
    assert job is not None and "cannot run it" in job["stranded"] and "quantum" in job["stranded"]
    assert job["status"] == "parked"
    assert stranded_ids(ee, stack) == [job_id]
    # Offered again with backoff and refused each time: still one history entry for the reason.
    # (Lapses at 0.5 s and 1 s after the signal's fire: no other event of the job can reset them.)
    poll(lambda: int(client.hget(f"ee:job:{{{job_id}}}", "lapses") or 0) >= 2, 30, 0.1, "a second offer")
    marks = [h for h in history_of(stack, job_id) if h["event"] == "stranded"]
    assert len(marks) == 1 and "cannot run it" in marks[0]["detail"], marks
