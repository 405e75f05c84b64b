"""What the second edition refuses at submit, naming the node by its path, and what it only warns of."""

from __future__ import annotations

from typing import Any

import pytest

from shared.errors import InvalidWorkflow, UnreadableWorkflow
from shared.workflow import MapNode, ParallelNode, decode_workflow, workflow_warnings

END = {"kind": "end"}


def wf(nodes: dict[str, Any], start: str = "a") -> dict[str, Any]:
    return {"name": "v", "start": start, "nodes": nodes}


def sub(start: str = "e", **nodes: Any) -> dict[str, Any]:
    return {"start": start, "nodes": nodes or {"e": END}}


def parallel(branches: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"kind": "parallel", "branches": branches, "next": "z", **fields}


def nested(depth: int) -> dict[str, Any]:
    """Forks nested ``depth`` deep."""
    inner: dict[str, Any] = sub()
    for _ in range(depth):
        inner = sub("m", m={"kind": "map", "items": "input.x", "body": inner, "next": "e"}, e=END)
    return wf(inner["nodes"], start=inner["start"])


def test_the_design_example_is_accepted() -> None:
    flow = decode_workflow(wf({
        "both": parallel({
            "erp": sub("post", post={"kind": "activity", "activity": "erp.post", "output": "p", "next": "e"},
                       e={"kind": "end", "output": "vars.p"}),
            "mail": sub("send", send={"kind": "activity", "activity": "mail.send", "next": "e"}, e=END)},
            output="both"),
        "z": {"kind": "map", "items": "input.invoices", "max_concurrency": 3, "output": "posted", "next": "c",
              "body": sub("lock", lock={"kind": "lock_bot", "pool": "erp", "next": "run"},
                          run={"kind": "activity", "activity": "erp.post", "on_bot": True,
                               "input": {"invoice": "item"}, "output": "r", "next": "e"},
                          e={"kind": "end", "output": "vars.r"})},
        "c": {"kind": "call", "workflow": "post_invoice", "version": 2, "input": {"invoice": "input.invoice"},
              "output": "posted", "next": "t"},
        "t": {"kind": "set", "vars": {"total": "sum(vars.posted[].amount)"}, "next": "done"},
        "done": END}, start="both"))
    assert isinstance(flow.nodes["both"], ParallelNode) and isinstance(flow.nodes["z"], MapNode)
    assert flow.nodes["z"].max_concurrency == 3 and flow.nodes["z"].tolerated_failures == 0
    assert workflow_warnings(flow) == []


@pytest.mark.parametrize(("flow", "words"), [
    (wf({"a": parallel({f"b{i}": sub() for i in range(101)}), "z": END}),
     "node 'a', field 'branches': 101 branches: at most 100"),
    (nested(9), "node 'm/m/m/m/m/m/m/m/m', field 'kind': forks nested 9 deep: at most 8"),
    (wf({"a": parallel({"b": sub("x", x={"kind": "activity", "activity": "demo.echo", "next": "nowhere"})}),
         "z": END}), "node 'a.b/x', field 'next': names unknown node 'nowhere'"),
    (wf({"a": parallel({"b": sub("missing")}), "z": END}), "node 'a.b', field 'start': names unknown node 'missing'"),
    (wf({"a": parallel({}), "z": END}), "node 'a', field 'branches': a parallel needs at least one branch"),
    (wf({"a": parallel({"b.c": sub()}), "z": END}), "node 'a', field 'branches.b.c': a branch name is 1 to 64"),
    (wf({"a": {"kind": "map", "items": "[oops", "body": sub(), "next": "z"}, "z": END}),
     "node 'a', field 'items': bad expression '[oops'"),
    (wf({"a": {"kind": "map", "items": "input.x", "body": sub(), "max_concurrency": 0, "next": "z"}, "z": END}),
     "node 'a', field 'max_concurrency': must be from 1 to 10000, got 0"),
    (wf({"a": {"kind": "map", "items": "input.x", "body": sub(), "tolerated_failures": -1, "next": "z"}, "z": END}),
     "node 'a', field 'tolerated_failures': must be from 0 to 10000, got -1"),
    (wf({"a": {"kind": "call", "workflow": "w", "version": 0, "next": "z"}, "z": END}),
     "node 'a', field 'version': must be 1 or more, got 0"),
    (wf({"a": {"kind": "call", "workflow": "bad name", "next": "z"}, "z": END}), "node 'a', field 'workflow'"),
    (wf({"a": {"kind": "set", "vars": {}, "next": "z"}, "z": END}), "a set node needs at least one variable"),
    (wf({"a": {"kind": "set", "vars": {"x": "sum("}, "next": "z"}, "z": END}), "node 'a', field 'vars.x': bad expr"),
    (wf({"a": {"kind": "activity", "activity": "x", "next": "z", "catch": [{"error": "oops", "next": "z"}]},
         "z": END}), "node 'a', field 'catch[0].error'"),
    (wf({"a": {"kind": "activity", "activity": "x", "next": "z", "catch": [{"error": "*", "next": "gone"}]},
         "z": END}), "node 'a', field 'catch[0].next': names unknown node 'gone'"),
    (wf({"a": {"kind": "sleep", "seconds": 1, "next": "z", "catch": []}, "z": END}), "node 'a', field 'catch'"),
    (wf({"a": {"kind": "activity", "activity": "x", "on_bot": True, "next": "z"}, "z": END}),
     "node 'a', field 'on_bot': no route to this node holds a bot"),
    (wf({"a": {"kind": "lock_bot", "pool": "p", "next": "f"}, "f": {"kind": "unlock_bot", "next": "b"},
         "b": {"kind": "activity", "activity": "x", "on_bot": True, "next": "z"}, "z": END}),
     "node 'b', field 'on_bot'"),
    (wf({"a": parallel({"b": sub("r", r={"kind": "activity", "activity": "x", "on_bot": True, "next": "e"},
                                 e=END)}), "z": END}), "node 'a.b/r', field 'on_bot'"),
])
def test_refused_naming_the_node(flow: dict[str, Any], words: str) -> None:
    with pytest.raises(InvalidWorkflow) as caught:
        decode_workflow(flow)
    assert words in str(caught.value)


def test_eight_levels_of_nesting_are_allowed() -> None:
    decode_workflow(nested(8))


def test_on_bot_accepted_with_a_lock_on_its_branch_or_before_the_fork() -> None:
    run = {"kind": "activity", "activity": "x", "on_bot": True, "next": "e"}
    decode_workflow(wf({"l": {"kind": "lock_bot", "pool": "p", "next": "a"},
                        "a": parallel({"b": sub("r", r=run, e=END)}), "z": END}, start="l"))
    decode_workflow(wf({"a": parallel({"b": sub("l", l={"kind": "lock_bot", "pool": "p", "next": "r"}, r=run,
                                                 e=END)}), "z": END}))
    # Stored workflows (check_names=False) are not judged again: their parked jobs run on.
    decode_workflow(wf({"a": {**run, "next": "z"}, "z": END}), check_names=False)


@pytest.mark.parametrize(("node", "allowed"), [
    ({"kind": "map", "items": "input.x", "body": sub(), "next": "z", "concurrency": 3},
     "node kind 'map' allows: kind, items, body, next, output, max_concurrency, tolerated_failures, catch"),
    ({"kind": "activity", "activity": "x", "next": "z", "catch": [{"error": "*", "next": "z", "goto": "z"}]},
     "allowed here: error, next, output"),
    ({"kind": "parallel", "next": "z", "branches": {"b": sub("q", q={"kind": "end", "value": 1})}},
     "node kind 'end' allows: kind, output"),
])
def test_an_unknown_field_names_the_allowed_ones(node: dict[str, Any], allowed: str) -> None:
    with pytest.raises(UnreadableWorkflow) as caught:
        decode_workflow(wf({"a": node, "z": END}))
    assert allowed in str(caught.value)


def test_an_unknown_field_in_a_branch_names_the_nested_node() -> None:
    with pytest.raises(UnreadableWorkflow, match=r"node 'a.b/q', field 'value': unknown field 'value'"):
        decode_workflow(wf({"a": parallel({"b": sub("q", q={"kind": "end", "value": 1})}), "z": END}))


def test_unreached_nodes_are_warnings_at_every_level() -> None:
    flow = decode_workflow(wf({
        "a": parallel({"b": sub("e", e=END, stray={"kind": "fail"})}),
        "z": END, "orphan": {"kind": "end"}}))
    assert workflow_warnings(flow) == [
        "node 'a.b/stray' is never reached (no route from 'a.b/e' leads to it)",
        "node 'orphan' is never reached (no route from 'a' leads to it)",
    ]


def test_catch_routes_count_as_routes() -> None:
    flow = decode_workflow(wf({"a": {"kind": "activity", "activity": "x", "next": "z",
                                     "catch": [{"error": "*", "next": "r"}]}, "r": END, "z": END}))
    assert workflow_warnings(flow) == []


def test_at_most_1000_nodes_in_all() -> None:
    many = {f"n{i}": END for i in range(600)}
    with pytest.raises(InvalidWorkflow, match="at most 1000 nodes"):
        decode_workflow(wf({"a": parallel({"b": sub("n0", **many)}), "z": END, **many}))
