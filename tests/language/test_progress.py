"""What an operator sees of a job with branches in flight: ``ee status`` shows a map's progress,
``ee events`` the branch of each wait, and ``ee submit`` warns of nodes nothing reaches."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ee.progress import fork_progress
from tests.support.cli import InProcessEe, StackEe
from tests.support.stack import Stack, poll

ITEMS = 6


def slow_map(seconds: float) -> dict[str, Any]:
    return {"name": "slow_map", "start": "each", "nodes": {
        "each": {"kind": "map", "items": "input.items", "max_concurrency": 2, "output": "out", "next": "done",
                 "body": {"start": "nap", "nodes": {
                     "nap": {"kind": "activity", "activity": "demo.sleep",
                             "input": {"seconds": f"`{seconds}`", "n": "item"}, "output": "r", "next": "e"},
                     "e": {"kind": "end", "output": "vars.r.n"}}}},
        "done": {"kind": "end", "output": "vars.out"}}}


@pytest.fixture
def ee(ee_main: InProcessEe, tmp_path: Path) -> StackEe:
    """``ee(stack, *args)``: one command, in this process (tests.support.cli)."""
    return StackEe(ee_main, tmp_path)


def test_status_shows_a_maps_progress_and_events_each_waits_branch(engine: Stack, ee: StackEe) -> None:
    job = engine.submit(slow_map(60), {"items": list(range(ITEMS))})  # still running when looked at

    def progress() -> list[dict[str, Any]] | None:
        shown = ee(engine, "status", job, "--json")
        assert shown.returncode == 0, shown.stderr
        rows: list[dict[str, Any]] = json.loads(shown.stdout)["progress"]
        return rows if rows and rows[0]["running"] == 2 else None

    [row] = poll(progress, 60, 0.1, "the map running two bodies")
    assert (row["node"], row["kind"], row["of"], row["running"]) == ("each", "map", ITEMS, 2)
    assert row["done"] + row["failed"] + row["running"] + row["waiting"] == ITEMS
    table = ee(engine, "status", job)
    assert "branches in flight" in table.stdout and "each" in table.stdout
    def branches() -> list[str] | None:
        events = ee(engine, "events", "--job", job, "--json")
        assert events.returncode == 0, events.stderr
        shown = sorted(str(w.get("branch")) for w in json.loads(events.stdout))
        return shown if shown else None

    shown = poll(branches, 60, 0.1, "the map's waits in ee events")
    assert all(b.startswith("each[") for b in shown) and len(shown) <= 2, shown
    assert ee(engine, "cancel", job).returncode == 0
    assert engine.wait_job(job, timeout=60)["status"] == "cancelled"
    assert json.loads(ee(engine, "status", job, "--json").stdout)["progress"] == []


def test_progress_of_a_checkpoint() -> None:
    checkpoint = {"node": "each", "fork": {"kind": "map", "total": 10, "next": 5, "running": 3, "done": 1,
                                           "failed": 1},
                  "branches": {"each[3]": {"slot": "3", "node": "inner",
                                           "fork": {"kind": "parallel", "total": 2, "running": 2}}}}
    assert fork_progress(checkpoint) == [
        {"node": "each", "kind": "map", "done": 1, "failed": 1, "running": 3, "waiting": 5, "of": 10},
        {"node": "each[3]/inner", "kind": "parallel", "done": 0, "failed": 0, "running": 2, "waiting": 0, "of": 2}]
    assert fork_progress({"node": 3}) == [] and fork_progress(None) == []


def test_submit_warns_of_a_node_nothing_reaches(tmp_path: Any) -> None:
    path = tmp_path / "orphan.json"
    path.write_text(json.dumps({"name": "orphan", "start": "a", "nodes": {"a": {"kind": "end"},
                                                                           "lost": {"kind": "end"}}}))
    out = subprocess.run([sys.executable, "-m", "ee", "--nats-url", "nats://127.0.0.1:1", "submit", str(path)],
                         capture_output=True, text=True, timeout=60)
    assert "ee: warning: node 'lost' is never reached" in out.stderr, out.stderr
