"""``ee retry`` of a job whose ``call`` failed: the failed child job runs again with its parent,
from where it failed, and the parent completes with the child's output (a completed child is
not run again)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from shared.names import child_job_id
from tests.support.stack import Stack

CHILD = {"name": "once_child", "version": 1, "start": "a", "nodes": {
    "a": {"kind": "activity", "activity": "test.once", "input": {"marker": "input.marker"}, "output": "r",
          "next": "done"},
    "done": {"kind": "end", "output": "vars.r"}}}

PARENT = {"name": "calls_once", "start": "post", "nodes": {
    "post": {"kind": "call", "workflow": "once_child", "input": {"marker": "input.marker"}, "output": "c",
             "next": "done"},
    "done": {"kind": "end", "output": "vars.c"}}}


def ee(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ee", *args], env=stack.env(COLUMNS="200"), capture_output=True,
                          text=True, timeout=60, check=False)


def test_retrying_a_job_whose_call_failed_runs_the_child_again(engine: Stack, tmp_path: Path) -> None:
    engine.start("worker", "--activities", "tests.core.once_activities")
    path = tmp_path / "once_child.json"
    path.write_text(json.dumps(CHILD))
    deployed = ee(engine, "workflow", "deploy", str(path))
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    job_id = engine.submit(PARENT, {"marker": str(tmp_path / "marker")})
    failed = engine.wait_job(job_id, 60)
    child = child_job_id(job_id, "post")
    assert failed["status"] == "failed" and f"child job {child} failed" in failed["error"], failed
    assert (engine.job(child) or {}).get("status") == "failed"

    out = ee(engine, "retry", job_id)
    assert out.returncode == 0, out.stdout + out.stderr
    done = engine.wait_job(job_id, 60)
    assert done["status"] == "completed", done
    assert done["output"] == {"ran": "again"}
    child_record: dict[str, Any] = engine.job(child) or {}
    assert (child_record["status"], child_record["parent_retries"]) == ("completed", 1), child_record
    assert [h["event"] for h in child_record["history"]].count("retried") == 1, child_record["history"]
