"""Priorities and limits end to end: ``ee submit --priority``, the limit's line in ``ee events``
(priority, place) and ``ee limit list``, and the line served by priority, then arrival."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import InProcessEe, StackEe
from tests.support.stack import Stack, poll


def gated(limit: str) -> dict[str, Any]:
    return {"name": f"gated-{limit}", "version": 1, "start": "hold", "nodes": {
        "hold": {"kind": "activity", "activity": "demo.sleep", "input": {"seconds": "`600`"}, "limit": limit,
                 "timeout_s": 900, "next": "done"},
        "done": {"kind": "end"}}}


EeJson = Callable[..., Any]


@pytest.fixture
def ee(ee_main: InProcessEe, tmp_path: Path) -> EeJson:
    """``ee(stack, *args)``: one command with ``--json``, in this process, exiting 0; what it printed, parsed."""
    return StackEe(ee_main, tmp_path).json


def submit(ee: EeJson, stack: Stack, path: Path, job_id: str, priority: int) -> None:
    ee(stack, "submit", str(path), "--job-id", job_id, "--priority", str(priority))


def line(ee: EeJson, stack: Stack, limit: str) -> dict[str, tuple[str, int | None, int | None]]:
    """Each job's (phase, priority, place) under the limit."""
    return {e["job_id"]: (e.get("phase", ""), e.get("priority"), e.get("place"))
            for e in ee(stack, "events", "--limit", limit)}


def in_line(ee: EeJson, stack: Stack, job_id: str) -> bool:
    return job_id in line(ee, stack, "gate")


def test_the_line_goes_by_priority_then_arrival_and_is_shown(engine: Stack, tmp_path: Path, ee: EeJson) -> None:
    path = tmp_path / "gated.json"
    path.write_text(json.dumps(gated("gate")))
    ee(engine, "limit", "set", "gate", "--concurrency", "1")
    submit(ee, engine, path, "first", 5)
    poll(lambda: line(ee, engine, "gate").get("first", ("",))[0] == "running", 30, 0.1, "the first job to run")
    for job_id, priority in (("later", 5), ("urgent", 1), ("lazy", 9)):
        submit(ee, engine, path, job_id, priority)
        poll(partial(in_line, ee, engine, job_id), 30, 0.1, f"{job_id} to be in line")
    assert line(ee, engine, "gate") == {"first": ("running", 5, None), "urgent": ("waiting_capacity", 1, 1),
                                    "later": ("waiting_capacity", 5, 2), "lazy": ("waiting_capacity", 9, 3)}
    [listed] = [row for row in ee(engine, "limit", "list") if row["name"] == "gate"]
    assert (listed["set"], listed["concurrency"], listed["keys"]) == (
        True, 1, [{"key": "", "running": 1, "waiting": 3}])
    # The running attempt ends (its job cancelled): its slot goes to the most urgent.
    ee(engine, "cancel", "first", "--reason", "make room")
    poll(lambda: line(ee, engine, "gate").get("urgent", ("",))[0] == "running", 30, 0.1, "the urgent job to run")
    assert line(ee, engine, "gate") == {"urgent": ("running", 1, None), "later": ("waiting_capacity", 5, 1),
                                    "lazy": ("waiting_capacity", 9, 2)}
    status = ee(engine, "status", "later")
    assert status["waits"][0]["phase"] == "waiting_capacity", status
    for job_id in ("urgent", "later", "lazy"):
        ee(engine, "cancel", job_id, "--reason", "done")
    poll(lambda: not line(ee, engine, "gate"), 30, 0.1, "the line to empty")


def test_a_limit_never_set_is_unlimited_and_listed_while_used(engine: Stack, tmp_path: Path, ee: EeJson) -> None:
    path = tmp_path / "free.json"
    path.write_text(json.dumps(gated("never-set")))
    for i in range(3):
        submit(ee, engine, path, f"free-{i}", 5)
    poll(lambda: [e.get("phase") for e in ee(engine, "events", "--limit", "never-set")] == ["running"] * 3, 30, 0.1,
         "three attempts running")
    [listed] = [row for row in ee(engine, "limit", "list") if row["name"] == "never-set"]
    assert (listed["set"], listed["concurrency"], listed["keys"]) == (
        False, None, [{"key": "", "running": 3, "waiting": 0}])
    for i in range(3):
        ee(engine, "cancel", f"free-{i}", "--reason", "done")
    poll(lambda: all(r["name"] != "never-set" for r in ee(engine, "limit", "list")), 30, 0.1, "the limit to go")
