"""A concurrency limit holds under load and through SIGKILLs of the reactor and of a worker.

30 jobs, each one activity under limit ``erp`` (concurrency 3), run by two workers; mid-run the
reactor and then a worker are killed and replaced. The workers record each run's start and end
(``demo.hold``, ``EE_DEMO_SPANS``); a killed worker's runs end when it is killed (the test
writes that down once the process is gone). The peak of runs at once never passes 3, every job
completes, and the limit is left with nothing running or waiting."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import InProcessEe, StackEe
from tests.support.stack import Service, Stack, poll

LIMIT = 3
JOBS = 30

HOLD: dict[str, Any] = {
    "name": "erp-post", "version": 1, "start": "post",
    "nodes": {
        "post": {"kind": "activity", "activity": "demo.hold", "input": {"seconds": "`1.5`", "n": "input.n"},
                 "limit": "erp", "timeout_s": 30, "retry": {"max_attempts": 5, "backoff_s": 0.2},
                 "output": "posted", "next": "done"},
        "done": {"kind": "end", "output": "vars.posted.n"},
    },
}


EeJson = Callable[..., Any]


@pytest.fixture
def ee(ee_main: InProcessEe, tmp_path: Path) -> EeJson:
    """``ee(stack, *args)``: one command with ``--json``, in this process, exiting 0; what it printed, parsed."""
    return StackEe(ee_main, tmp_path).json


def spans(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def peak(rows: list[dict[str, Any]]) -> int:
    """The most runs at once, in the file's order; a ``killed`` row ends that process's runs."""
    running: dict[tuple[str, int, int], int] = {}
    most = 0
    for row in rows:
        if "killed" in row:
            running = {k: v for k, v in running.items() if k[2] != row["killed"]}
            continue
        key = (row["event_id"], int(row["attempt"]), int(row["pid"]))
        if row["span"] == "start":
            running[key] = running.get(key, 0) + 1
        elif running.get(key):
            running[key] -= 1
            if not running[key]:
                del running[key]
        most = max(most, sum(running.values()))
    return most


def kill(stack: Stack, service: Service, path: Path) -> None:
    service.kill()
    with path.open("a") as f:
        f.write(json.dumps({"killed": service.pid}) + "\n")


def test_concurrency_is_never_exceeded_through_kills(stack: Stack, ee: EeJson) -> None:
    path = stack.workdir / "spans.jsonl"
    # A short ack wait brings the killed worker's tasks back soon; 3 s keeps a live worker's
    # keep-alive (every 0.75 s) well ahead of it on a loaded machine (docs/guarantees.md).
    stack.extra_env.update(EE_DEMO_SPANS=str(path), EE_ACTIVITY_ACK_WAIT_S="3")
    reactor = stack.reactor()
    stack.executor()
    stack.worker()
    doomed = stack.worker()
    stack.wait_ready()
    ee(stack, "limit", "set", "erp", "--concurrency", str(LIMIT))
    ids = stack.submit_many(HOLD, [{"n": i} for i in range(JOBS)], "erp")
    poll(lambda: len([r for r in spans(path) if r.get("span") == "start"]) >= 6, 60, 0.05, "six runs to start")
    # Some run, the rest wait in the limit's line, visible as such.
    listed = {row["name"]: row for row in ee(stack, "limit", "list")}
    assert listed["erp"]["concurrency"] == LIMIT
    listed_events = ee(stack, "events", "--limit", "erp")
    waiting = [e for e in listed_events if e.get("phase") == "waiting_capacity"]
    assert waiting and all(e["place"] >= 1 and e["priority"] == 5 for e in waiting), (listed, listed_events)
    kill(stack, reactor, path)
    stack.reactor()
    poll(lambda: len([r for r in spans(path) if r.get("span") == "start"]) >= 15, 60, 0.05, "fifteen runs to start")
    poll(lambda: any(r.get("pid") == doomed.pid and r.get("span") == "start" for r in spans(path)), 60, 0.05,
         "a run on the worker about to be killed")
    kill(stack, doomed, path)
    stack.worker()
    jobs = stack.wait_jobs(ids, timeout=180)
    assert {j["status"] for j in jobs.values()} == {"completed"}, jobs
    assert sorted(j["output"] for j in jobs.values()) == list(range(JOBS))
    assert peak(spans(path)) <= LIMIT
    assert peak(spans(path)) >= 2  # it did run in parallel, up to the limit
    shown = ee(stack, "limit", "show", "erp")
    assert all(k["running"] == 0 and k["waiting"] == 0 for k in shown["keys"]), shown
