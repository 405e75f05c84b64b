"""Human tasks against a real stack: the inbox, claims, completion checked against the form, a
second completion refused, escalation at the due time, a catch on timeout, a task in a map, and
a completion while the reactor is down."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import InProcessEe, StackEe
from tests.support.stack import Stack, poll

FORM = {"type": "object", "required": ["approved", "amount"], "properties": {
    "approved": {"type": "boolean"}, "amount": {"type": "number", "minimum": 0},
    "currency": {"enum": ["EUR", "USD"]}, "note": {"type": "string", "maxLength": 20}}}


def approval(**task: Any) -> dict[str, Any]:
    node = {"kind": "human_task", "title": "Approve invoice", "details": "input.invoice",
            "assignee": "group:finance", "form": FORM, "output": "approval", "next": "done", **task}
    return {"name": "approve", "start": "ask", "nodes": {
        "ask": node,
        "done": {"kind": "end", "output": "vars.approval"},
        "late": {"kind": "end", "output": "'caught'"}}}


@pytest.fixture
def ee(ee_main: InProcessEe, tmp_path: Path) -> StackEe:
    """``ee(stack, *args)``: one command, in this process (tests.support.cli)."""
    return StackEe(ee_main, tmp_path)


def inbox(ee: StackEe, stack: Stack, *args: str) -> list[dict[str, Any]]:
    out = ee(stack, "tasks", "--json", *args)
    assert out.returncode == 0, out.stderr
    rows: list[dict[str, Any]] = json.loads(out.stdout)
    return rows


def parked_task(ee: StackEe, stack: Stack, job_id: str) -> dict[str, Any]:
    found = poll(lambda: [t for t in inbox(ee, stack) if t["job_id"] == job_id], 30, what="the job's task in the inbox")
    return found[0]


def history(stack: Stack, job_id: str) -> list[dict[str, str]]:
    entries: list[dict[str, str]] = stack.inspector().job(job_id)["history"]  # type: ignore[index]
    return entries


def test_task_lifecycle_claim_complete_and_second_completion_refused(engine: Stack, ee: StackEe) -> None:
    job_id = engine.submit(approval(), {"invoice": {"id": "INV-7", "total": 120}})
    task = parked_task(ee, engine, job_id)
    assert task["title"] == "Approve invoice" and task["details"] == {"id": "INV-7", "total": 120}
    assert task["assignee"] == "group:finance" and task["form"] == FORM and task["status"] == "open"
    assert [t["task_id"] for t in inbox(ee, engine, "--assignee", "group:finance")] == [task["task_id"]]
    assert inbox(ee, engine, "--assignee", "group:sales") == []
    tid = task["task_id"]

    out = ee(engine, "task", "claim", tid, "--by", "alice")
    assert out.returncode == 0, out.stderr
    out = ee(engine, "task", "claim", tid, "--by", "bob")
    assert out.returncode == 2 and f"task {tid!r} is claimed by alice" in out.stderr, out.stderr
    out = ee(engine, "task", "complete", tid, "--by", "bob", "--data", '{"approved": true, "amount": 5}')
    assert out.returncode == 2 and "claimed by alice" in out.stderr, out.stderr

    out = ee(engine, "task", "complete", tid, "--by", "alice", "--data", '{"approved": true, "amount": -5}')
    assert out.returncode == 2
    assert out.stderr.strip() == "ee: field 'amount': -5 is less than the minimum of 0", out.stderr
    out = ee(engine, "task", "complete", tid, "--by", "alice", "--data", '{"amount": 5}')
    assert out.returncode == 2 and "field 'approved': is required" in out.stderr, out.stderr
    out = ee(engine, "task", "complete", tid, "--by", "alice", "--data", '{"approved": true, "amount": 5, '
             '"currency": "GBP"}')
    assert out.returncode == 2 and "field 'currency'" in out.stderr, out.stderr

    data = {"approved": True, "amount": 120, "currency": "EUR"}
    out = ee(engine, "task", "complete", tid, "--by", "alice", "--data", json.dumps(data))
    assert out.returncode == 0, out.stderr
    assert engine.wait_job(job_id)["output"] == data
    entries = history(engine, job_id)
    done = [h for h in entries if h["event"] == "task completed"]
    assert [h["detail"] for h in done] == ["by alice"]
    assert [h["detail"] for h in entries if h["event"] == "task claimed"] == ["by alice"]

    out = ee(engine, "task", "complete", tid, "--by", "bob", "--data", json.dumps(data))
    assert out.returncode == 2
    assert f"task {tid!r} was completed by alice at {done[0]['at']}" in out.stderr, out.stderr
    out = ee(engine, "task", "show", tid, "--json")
    assert out.returncode == 0, out.stderr
    shown = json.loads(out.stdout)
    assert shown["status"] == "completed" and shown["completed_by"] == "alice" and shown["data"] == data
    assert inbox(ee, engine) == []


def test_unknown_task_and_reassign(engine: Stack, ee: StackEe) -> None:
    out = ee(engine, "task", "complete", "nobody~1.0", "--data", "{}")
    assert out.returncode == 3 and "unknown task 'nobody~1.0'" in out.stderr, out.stderr
    out = ee(engine, "task", "show", "nobody~1.0")
    assert out.returncode == 3
    job_id = engine.submit(approval(), {"invoice": 1})
    tid = parked_task(ee, engine, job_id)["task_id"]
    assert ee(engine, "task", "claim", tid, "--by", "alice").returncode == 0
    out = ee(engine, "task", "reassign", tid, "--to", "bob", "--by", "carol")
    assert out.returncode == 0, out.stderr
    assert [t["task_id"] for t in inbox(ee, engine, "--assignee", "bob")] == [tid]
    assert inbox(ee, engine, "--assignee", "group:finance") == []
    assert inbox(ee, engine, "--assignee", "bob")[0]["claimed_by"] == ""  # a reassignment releases the claim
    out = ee(engine, "task", "reassign", tid, "--to", "not a user")
    assert out.returncode == 2
    assert [h["detail"] for h in history(engine, job_id) if h["event"] == "task reassigned"] == [
        "from group:finance to bob by carol"]
    assert ee(engine, "task", "complete", tid, "--by", "bob", "--data", '{"approved": false, "amount": 0}'
              ).returncode == 0
    assert engine.wait_job(job_id)["output"] == {"approved": False, "amount": 0}


def test_escalation_at_the_due_time(engine: Stack, ee: StackEe) -> None:
    job_id = engine.submit(approval(due_s=1.0, escalate_to="group:managers"), {"invoice": 2})
    tid = parked_task(ee, engine, job_id)["task_id"]
    poll(lambda: [t for t in inbox(ee, engine, "--assignee", "group:managers") if t["task_id"] == tid], 30,
         what="the task escalated to group:managers")
    assert inbox(ee, engine, "--assignee", "group:finance") == []
    assert inbox(ee, engine, "--overdue") == []  # escalated: the managers have it, with no due time
    assert [h["detail"] for h in history(engine, job_id) if h["event"] == "escalated"] == [
        "due: from group:finance to group:managers"]
    assert ee(engine, "task", "complete", tid, "--by", "boss", "--data", '{"approved": true, "amount": 1}'
              ).returncode == 0
    assert engine.wait_job(job_id)["output"] == {"approved": True, "amount": 1}


def test_overdue_without_escalation_or_catch(engine: Stack, ee: StackEe) -> None:
    job_id = engine.submit(approval(due_s=0.5), {"invoice": 3})
    tid = parked_task(ee, engine, job_id)["task_id"]
    poll(lambda: [t for t in inbox(ee, engine, "--overdue") if t["task_id"] == tid], 30, what="the task overdue")
    poll(lambda: [h for h in history(engine, job_id) if h["event"] == "overdue"], 30, what="the overdue entry")
    assert engine.job(job_id)["status"] == "parked"  # type: ignore[index]
    out = ee(engine, "tasks")
    assert out.returncode == 0 and "overdue" in out.stdout
    assert ee(engine, "task", "complete", tid, "--data", '{"approved": true, "amount": 1}').returncode == 0
    engine.wait_job(job_id)


def test_catch_on_timeout_routes_the_job(engine: Stack) -> None:
    job_id = engine.submit(approval(due_s=0.5, catch=[{"error": "timeout", "next": "late"}]), {"invoice": 4})
    job = engine.wait_job(job_id)
    assert job["status"] == "completed" and job["output"] == "caught", job
    tid = next(h for h in history(engine, job_id) if h["event"] == "fired")
    assert tid["node"] == "ask"


def test_task_in_a_map_branch(engine: Stack, ee: StackEe) -> None:
    flow = {"name": "approve-each", "start": "each", "nodes": {
        "each": {"kind": "map", "items": "input.invoices", "output": "answers", "next": "done", "body": {
            "start": "ask", "nodes": {
                "ask": {"kind": "human_task", "title": "Approve one", "details": "item", "assignee": "alice",
                        "form": FORM, "output": "a", "next": "end"},
                "end": {"kind": "end", "output": "vars.a.amount"}}}},
        "done": {"kind": "end", "output": "vars.answers"}}}
    job_id = engine.submit(flow, {"invoices": ["A", "B"]})
    tasks = poll(lambda: (lambda ts: ts if len(ts) == 2 else None)(
        [t for t in inbox(ee, engine, "--assignee", "alice") if t["job_id"] == job_id]), 30, what="both tasks")
    assert sorted(t["details"] for t in tasks) == ["A", "B"]
    assert sorted(t["node"] for t in tasks) == ["each[0]/ask", "each[1]/ask"]
    for t in tasks:
        amount = 10 if t["details"] == "A" else 20
        out = ee(engine, "task", "complete", t["task_id"], "--by", "alice", "--data",
                 json.dumps({"approved": True, "amount": amount}))
        assert out.returncode == 0, out.stderr
    output = engine.wait_job(job_id)["output"]
    assert output in ({"0": 10, "1": 20}, [10, 20]), output


def test_completion_while_the_reactor_is_down_fails_clearly(stack: Stack, ee: StackEe) -> None:
    reactor = stack.reactor()
    stack.executor()
    job_id = stack.submit(approval(), {"invoice": 5})
    tid = parked_task(ee, stack, job_id)["task_id"]
    reactor.kill()
    out = ee(stack, "task", "complete", tid, "--by", "alice", "--data", '{"approved": true, "amount": 1}')
    assert out.returncode == 4, out.stderr
    assert "reactor" in out.stderr and "no answer" in out.stderr, out.stderr
    assert stack.job(job_id)["status"] == "parked"  # type: ignore[index]
    stack.reactor()
    out = ee(stack, "task", "complete", tid, "--by", "alice", "--data", '{"approved": true, "amount": 1}')
    assert out.returncode == 0, out.stderr
    assert stack.wait_job(job_id)["output"] == {"approved": True, "amount": 1}
