"""Every accepted job is visible: pending before any executor takes it, refused with its reason."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.stack import Stack, poll
from tests.workflows import chain


def ee(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ee", *args], env=stack.env(), capture_output=True, text=True,
                          timeout=30)


def test_accepted_job_no_executor_took_is_pending_then_runs(stack: Stack, tmp_path: Path) -> None:
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
    assert unknown.returncode == 2 and "unknown job 'never-submitted'" in unknown.stderr
    stack.executor()
    assert stack.wait_job(job_id)["output"] == {"v": 9}


def test_refused_job_shows_refused_with_its_reason(engine: Stack) -> None:
    bad = chain(2)
    bad["nodes"]["s1"]["next"] = "nowhere"
    engine.submit(bad, {}, job_id="dangling")
    poll(lambda: (engine.job("dangling") or {}).get("refused"), 20, 0.05, "the refusal record")
    shown = json.loads(ee(engine, "status", "dangling", "--json").stdout)
    assert shown["status"] == "failed" and "names unknown node 'nowhere'" in shown["refused"]
    assert shown["error"] == shown["refused"]
    text = ee(engine, "status", "dangling").stdout
    assert "refused" in text and "nowhere" in text


def test_waiting_job_cancelled_leaves_the_stream(stack: Stack) -> None:
    stack.extra_env.update(EE_JOBS_REDELIVERY_MAX_S="0.3")
    stack.reactor()
    stack.executor(EE_BUILD="old", EE_TEST_FORGET_NODE_KINDS="activity")
    stack.wait_ready()
    job_id = stack.submit(chain(1), {"v": 1})
    poll(lambda: (stack.job(job_id) or {}).get("waiting_for"), 20, 0.05, "the waiting record")
    cancelled = ee(stack, "cancel", job_id)
    assert cancelled.returncode == 0, cancelled.stderr
    assert stack.wait_job(job_id)["status"] == "cancelled"
