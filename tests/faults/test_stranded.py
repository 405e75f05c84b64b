"""Nothing sits silently pending: what no executor drives is re-offered, then marked stranded."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support.stack import Stack, poll
from tests.workflows import chain, sleeper


def ee_json(stack: Stack, *args: str) -> object:
    out = subprocess.run([sys.executable, "-m", "ee", *args, "--json"], env=stack.env(), capture_output=True,
                         text=True, timeout=30, check=True)
    return json.loads(out.stdout)


def test_job_nobody_resumes_is_marked_stranded_then_recovers(stack: Stack) -> None:
    stack.extra_env.update(EE_WAKE_LEASE_S="0.3", EE_STRAND_AFTER="2")
    stack.reactor()
    stack.worker()
    executor = stack.executor()
    job_id = stack.submit(sleeper(0.5), {})
    stack.wait_job(job_id, statuses=("parked",))
    executor.kill()

    def stranded() -> bool:
        rows = ee_json(stack, "jobs", "--status", "stranded")
        return any(r["job_id"] == job_id for r in rows)  # type: ignore[union-attr]

    poll(stranded, 30, 0.2, "the job to be marked stranded")
    job = stack.job(job_id)
    assert job is not None and "wake lease lapsed" in job["stranded"]
    stack.executor()
    done = stack.wait_job(job_id)
    assert done["status"] == "completed"
    assert "stranded" not in done


def test_workflow_no_executor_can_run_is_reported(stack: Stack) -> None:
    stack.extra_env.update(EE_WAKE_LEASE_S="0.5")
    stack.reactor()
    stack.worker()
    executor = stack.executor()
    job_id = stack.submit(chain(2, "demo.sleep"), {"v": 1, "seconds": 0.5})
    stack.wait_job(job_id, statuses=("parked",))
    executor.kill()
    client = stack.redis_client()
    digest = client.hget(f"ee:job:{{{job_id}}}", "digest").decode()  # type: ignore[union-attr]
    # A workflow this build cannot read (as if written by a newer version).
    client.set(f"ee:workflow:{digest}", json.dumps({"name": "x", "start": "a", "nodes": {"a": {"kind": "quantum"}}}))
    stack.executor()
    poll(lambda: (stack.job(job_id) or {}).get("stranded"), 30, 0.1, "the strand report")
    job = stack.job(job_id)
    assert job is not None and "cannot run it" in job["stranded"] and "quantum" in job["stranded"]
    assert job["status"] == "parked"
