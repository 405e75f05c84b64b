"""Deadlines (``ee submit --deadline``, a workflow's ``deadline_s``): a job not finished by then
is flagged overdue (job field, status JSON, ``ee jobs --overdue``, ``ee_jobs_overdue``); with
``"on_deadline": "fail"`` it fails with "deadline passed" and its waits are dropped."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from tests.flow.helpers import QUICK, WAITING, Ee, now, submit_at
from tests.support.stack import Stack, poll


def _overdue(stack: Stack, job_id: str) -> dict[str, Any]:
    return poll(lambda: (j := stack.job(job_id)) is not None and j.get("overdue") and j, 30, 0.05,
                f"job {job_id} flagged overdue")


def _metric(stack: Stack, port: int, name: str) -> float | None:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        for line in reply.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return None


def test_a_late_job_is_flagged_overdue_and_goes_on(stack: Stack, ee: Ee) -> None:
    stack.ops = True
    reactor = stack.reactor()
    stack.executor()
    stack.worker()
    stack.wait_ready()
    job_id = submit_at(stack, WAITING, "late-1", deadline=now() + 1)
    on_time = submit_at(stack, QUICK, "on-time-1", deadline=now() + 3600)
    job = _overdue(stack, job_id)
    assert job["status"] == "parked" and job["on_deadline"] == "flag"
    shown = json.loads(ee(stack, "status", job_id, "--json").stdout)
    assert shown["overdue"] and shown["deadline"] == job["deadline"]
    assert "overdue" in [h["event"] for h in shown["history"]]
    listed = json.loads(ee(stack, "jobs", "--overdue", "--json").stdout)
    assert [row["job_id"] for row in listed] == [job_id]
    poll(lambda: _metric(stack, reactor.ops_port, "ee_jobs_overdue") == 1.0, 30, 0.2, "the overdue gauge at 1")
    assert stack.wait_job(on_time)["status"] == "completed"
    assert not stack.job(on_time).get("overdue")  # type: ignore[union-attr]
    ee(stack, "signal", job_id, "go")
    assert stack.wait_job(job_id)["status"] == "completed"  # a flag, not a failure
    poll(lambda: _metric(stack, reactor.ops_port, "ee_jobs_overdue") == 0.0, 30, 0.2, "the overdue gauge at 0")


def test_on_deadline_fail_fails_the_job_and_drops_its_waits(engine: Stack, ee: Ee) -> None:
    flow = {**WAITING, "name": "strict", "deadline_s": 1, "on_deadline": "fail"}
    job_id = engine.submit(flow, {})
    done = engine.wait_job(job_id, timeout=30)
    assert (done["status"], done["error"]) == ("failed", "deadline passed")
    assert done["events"] == [] and done["overdue"]
    assert json.loads(ee(engine, "events", "--job", job_id, "--json").stdout) == []


def test_ee_submit_deadline_counts_from_the_delayed_start(engine: Stack, ee: Ee) -> None:
    flow = engine.workdir / "waiting.json"
    flow.write_text(json.dumps(WAITING))
    job_id = ee(engine, "submit", str(flow), "--delay", "2s", "--deadline", "1s").stdout.strip()
    job = poll(lambda: (j := engine.job(job_id)) is not None and j.get("deadline") and j, 20, 0.02, "its deadline")
    assert abs(job["deadline"] - job["not_before"] - 1.0) < 1e-3
    assert _overdue(engine, job_id)["status"] in ("running", "parked")
