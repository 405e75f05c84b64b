"""SIGKILL the executor, or the reactor, with branches in flight: a 50-item map over a pool of
3 bots, and a parallel with a child job. Every job completes with the right output and no
activity attempt runs twice."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from tests.faults.helpers import assert_at_most_once
from tests.support.stack import Service, Stack, poll

ITEMS = 50
BOTS = ("b1", "b2", "b3")


def map_over_bots(seconds: float) -> dict[str, Any]:
    """Each item locks a bot of the pool, runs on it, and frees it: at most 5 bodies at once."""
    return {"name": "fan_out", "start": "each", "nodes": {
        "each": {"kind": "map", "items": "input.items", "max_concurrency": 5, "output": "done", "next": "end",
                 "body": {"start": "lock", "nodes": {
                     "lock": {"kind": "lock_bot", "pool": "erp", "next": "work"},
                     "work": {"kind": "activity", "activity": "demo.sleep", "on_bot": True,
                              "input": {"seconds": f"`{seconds}`", "n": "item"}, "output": "r", "next": "free"},
                     "free": {"kind": "unlock_bot", "next": "e"},
                     "e": {"kind": "end", "output": "vars.r.n"}}}},
        "end": {"kind": "end", "output": "vars.done"}}}


CHILD = {"name": "child_sum", "version": 1, "start": "add", "nodes": {
    "add": {"kind": "activity", "activity": "demo.add", "input": {"a": "input.a", "b": "`1`"}, "output": "s",
            "next": "nap"},
    "nap": {"kind": "activity", "activity": "demo.sleep", "input": {"seconds": "`0.5`", "sum": "vars.s.sum"},
            "output": "slept", "next": "e"},
    "e": {"kind": "end", "output": "vars.slept.sum"}}}


def parallel_with_child() -> dict[str, Any]:
    return {"name": "both", "start": "both", "nodes": {
        "both": {"kind": "parallel", "output": "both", "next": "end", "branches": {
            "child": {"start": "call", "nodes": {
                "call": {"kind": "call", "workflow": "child_sum", "input": {"a": "input.a"}, "output": "c",
                         "next": "e"},
                "e": {"kind": "end", "output": "vars.c"}}},
            "local": {"start": "nap", "nodes": {
                "nap": {"kind": "activity", "activity": "demo.sleep", "input": {"seconds": "`1`", "a": "input.a"},
                        "output": "n", "next": "e"},
                "e": {"kind": "end", "output": "vars.n.a"}}}}},
        "end": {"kind": "end", "output": "vars.both"}}}


def deploy(stack: Stack, workflow: dict[str, Any]) -> None:
    path = stack.workdir / f"{workflow['name']}.json"
    path.write_text(json.dumps(workflow))
    done = subprocess.run([sys.executable, "-m", "ee", "workflow", "deploy", str(path)], env=stack.env(),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def bots_ready(stack: Stack) -> None:
    for bot in BOTS:
        stack.worker("--bot", bot, "--pool", "erp")
    poll(lambda: sum(b.get("alive") == "1" for b in stack.inspector().bots()) == len(BOTS), 30,
         what="three bots in their pool")


def executed(stack: Stack) -> int:
    return sum(stack.executions().values())


def restart(stack: Stack, victim: Service, kind: str) -> None:
    victim.kill()
    if kind == "reactor":
        stack.reactor()
    else:
        stack.executor()


@pytest.mark.parametrize("victim", ["executor", "reactor"])
def test_map_over_a_pool_survives_a_kill(stack: Stack, victim: str) -> None:
    reactor = stack.reactor()
    executor = stack.executor()
    stack.worker()
    bots_ready(stack)
    job = stack.submit(map_over_bots(0.2), {"items": list(range(ITEMS))})
    poll(lambda: executed(stack) >= 12, 60, 0.05, "a dozen items done")
    restart(stack, reactor if victim == "reactor" else executor, victim)
    done = stack.wait_job(job, timeout=120)
    assert done["status"] == "completed", done
    assert done["output"] == list(range(ITEMS))
    assert_at_most_once(stack)
    assert executed(stack) >= ITEMS


@pytest.mark.parametrize("victim", ["executor", "reactor"])
def test_parallel_with_a_child_survives_a_kill(stack: Stack, victim: str) -> None:
    reactor = stack.reactor()
    executor = stack.executor()
    stack.worker()
    stack.wait_ready()
    deploy(stack, CHILD)
    job = stack.submit(parallel_with_child(), {"a": 41})
    # Killed once the child job has run its first activity and both branches are parked.
    def history() -> list[dict[str, Any]]:
        return list((stack.inspector().job(job) or {}).get("history", []))

    poll(lambda: any(h.get("event") == "parked" and str(h.get("node", "")).startswith("both.local")
                     for h in history()) and executed(stack) >= 2,
         60, 0.05, "both branches parked and the child started")
    restart(stack, reactor if victim == "reactor" else executor, victim)
    done = stack.wait_job(job, timeout=120)
    assert done["status"] == "completed", done
    assert done["output"] == {"child": 42, "local": 41}
    assert_at_most_once(stack)
    children = stack.inspector().jobs(workflow="child_sum")
    assert [(c["status"], c.get("output")) for c in children] == [("completed", 42)], children
