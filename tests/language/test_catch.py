"""catch routes: which class of failure each entry takes, and what it records."""

from __future__ import annotations

from typing import Any

import pytest

from shared.messages import EventResult
from tests.language.sim import Sim, failed, flow, ok

CATCH = [{"error": "business", "output": "why", "next": "reject"},
         {"error": "timeout", "next": "escalate"},
         {"error": "*", "output": "err", "next": "cleanup"}]


def routed(node: dict[str, Any]) -> dict[str, Any]:
    return {"a": {**node, "next": "done", "catch": CATCH},
            "reject": {"kind": "end", "output": "{to: 'reject', why: vars.why}"},
            "escalate": {"kind": "end", "output": "{to: 'escalate'}"},
            "cleanup": {"kind": "end", "output": "{to: 'cleanup', err: vars.err}"},
            "done": {"kind": "end", "output": "'done'"}}


ACTIVITY = {"kind": "activity", "activity": "erp.post"}


@pytest.mark.parametrize(("result", "expected"), [
    (failed("invoice 17 rejected", "business", "R17"),
     {"to": "reject", "why": {"error": "invoice 17 rejected", "type": "business", "code": "R17", "node": "a"}}),
    (failed("activity timed out after 5 s (attempt 3)", "timeout"), {"to": "escalate"}),
    (failed("boom (attempt 1)"),
     {"to": "cleanup", "err": {"error": "boom (attempt 1)", "type": "application", "code": None, "node": "a"}}),
    (failed("stuck", "operator"),
     {"to": "cleanup", "err": {"error": "stuck", "type": "application", "code": None, "node": "a"}}),
    (ok(1), "done"),
], ids=["business", "timeout", "application", "operator-is-application", "no-failure"])
def test_each_class_takes_its_route(result: EventResult, expected: Any) -> None:
    sim = Sim(flow(routed(ACTIVITY))).start()
    sim.fire({"a": result})
    assert sim.output == expected
    if not result.ok:
        assert sim.events_of("a")[-1] == "caught"


@pytest.mark.parametrize("node", [
    {"kind": "wait_signal", "signal": "approval", "timeout_s": 60},
    {"kind": "lock_bot", "pool": "erp", "timeout_s": 60},
    {"kind": "call", "workflow": "child"},
], ids=["wait_signal", "lock_bot", "call"])
def test_catch_on_waits_of_other_kinds(node: dict[str, Any]) -> None:
    sim = Sim(flow(routed(node))).start()
    sim.fire({"a": failed("timed out", "timeout")})
    assert sim.output == {"to": "escalate"}


def test_without_a_matching_entry_the_job_fails() -> None:
    nodes = routed(ACTIVITY)
    nodes["a"]["catch"] = [{"error": "business", "next": "reject"}]
    sim = Sim(flow(nodes)).start()
    sim.fire({"a": failed("boom")})
    assert sim.finish is not None and sim.finish.status == "failed"
    assert sim.finish.error == "node 'a': activity 'erp.post' failed: boom"
    assert sim.finish.checkpoint is not None and sim.finish.checkpoint.node == "a"


def test_an_expression_failure_is_an_application_failure() -> None:
    sim = Sim(flow(routed({**ACTIVITY, "input": {"x": "abs(input.s)"}})), {"s": "t"}).start()
    assert sim.output["to"] == "cleanup"
    assert sim.output["err"]["type"] == "application"


def test_a_branch_failure_is_caught_by_its_fork_with_its_class_and_path() -> None:
    body = {"start": "run", "nodes": {"run": {**ACTIVITY, "next": "e"}, "e": {"kind": "end"}}}
    sim = Sim(flow(routed({"kind": "map", "items": "input.items", "body": body})), {"items": [1, 2]}).start()
    sim.fire({"a[1]/run": failed("no", "business", "X")})
    assert sim.output == {"to": "reject", "why": {"error": "no", "type": "business", "code": "X", "node": "a[1]/run"}}
    assert len(sim.dropped) == 0  # a[0] dropped in a finish: the finish drops every wait


def test_catch_inside_a_branch_keeps_the_branch_going() -> None:
    body = {"start": "run", "nodes": {
        "run": {**ACTIVITY, "output": "r", "next": "e",
                "catch": [{"error": "business", "output": "why", "next": "skip"}]},
        "skip": {"kind": "end", "output": "{skipped: vars.why.error}"},
        "e": {"kind": "end", "output": "vars.r"}}}
    sim = Sim(flow({"a": {"kind": "map", "items": "input.items", "body": body, "output": "o", "next": "done"},
                    "done": {"kind": "end", "output": "vars.o"}}), {"items": [1, 2]}).start()
    sim.fire({"a[0]/run": failed("dup", "business"), "a[1]/run": ok(2)})
    assert sim.output == [{"skipped": "dup"}, 2]


def test_limits_are_not_caught() -> None:
    body = {"start": "e", "nodes": {"e": {"kind": "end"}}}
    sim = Sim(flow(routed({"kind": "map", "items": "input.items", "body": body})), {"items": [0] * 10_001}).start()
    assert sim.finish is not None and sim.finish.status == "failed"
    assert "over the limit of 10000" in (sim.finish.error or "")
