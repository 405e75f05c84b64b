"""The workflow drawing: layers from the start, edges of every kind, sub-workflows inside their
node, and the job's current / failed / visited nodes marked through branch paths."""

from __future__ import annotations

from typing import Any

from ee.console.graph import Box, Graph, layout, normalise_path

FLOW: dict[str, Any] = {
    "name": "batch", "version": 1, "start": "both",
    "nodes": {
        "both": {"kind": "parallel", "next": "each", "branches": {
            "erp": {"start": "post", "nodes": {"post": {"kind": "activity", "activity": "erp.post", "next": "e"},
                                               "e": {"kind": "end"}}},
            "mail": {"start": "send", "nodes": {"send": {"kind": "activity", "activity": "mail.send", "next": "e"},
                                                "e": {"kind": "end"}}}}},
        "each": {"kind": "map", "items": "input.invoices", "next": "check",
                 "body": {"start": "run", "nodes": {"run": {"kind": "activity", "activity": "erp.post",
                                                            "next": "e", "catch": [{"error": "business",
                                                                                    "next": "e"}]},
                                                    "e": {"kind": "end"}}}},
        "check": {"kind": "branch", "cases": [{"when": "vars.ok", "next": "done"}], "default": "stop"},
        "stop": {"kind": "fail", "error": "no"},
        "done": {"kind": "end"}}}


def boxes(graph: Graph) -> dict[str, Box]:
    found: dict[str, Box] = {}
    for layer in graph.layers:
        for box in layer:
            found[box.path] = box
            for sub in box.inner:
                found |= boxes(sub)
    return found


def test_layers_edges_and_nesting() -> None:
    graph = layout(FLOW)
    assert [[b.id for b in layer] for layer in graph.layers] == [["both"], ["each"], ["check"], ["done", "stop"]]
    drawn = boxes(graph)
    assert set(drawn) >= {"both.erp/post", "both.mail/send", "each[*]/run", "each[*]/e"}
    assert [sub.name for sub in drawn["both"].inner] == ["erp", "mail"]
    assert [(e.label, e.target) for e in drawn["check"].edges] == [("vars.ok", "done"), ("default", "stop")]
    assert [(e.label, e.target) for e in drawn["each[*]/run"].edges] == [("", "e"), ("catch business", "e")]
    assert drawn["both"].label == "2 branches" and drawn["each"].label == "input.invoices"


def test_marks_follow_branch_paths() -> None:
    assert normalise_path("each[12]/run") == "each[*]/run"
    drawn = boxes(layout(FLOW, current=["both.erp/post", "each[3]/run"], visited=["both.mail/send", "both"]))
    assert drawn["both"].state == drawn["both.erp/post"].state == "current"
    assert drawn["each"].state == drawn["each[*]/run"].state == "current"
    assert drawn["both.mail/send"].state == "visited" and drawn["check"].state == ""
    failed = boxes(layout(FLOW, failed=["stop"], visited=["both", "each", "check"]))
    assert failed["stop"].state == "failed" and failed["check"].state == "visited"


def test_unknown_kinds_and_odd_shapes_are_drawn_not_refused() -> None:
    odd = {"start": "a", "nodes": {"a": {"kind": "human_task", "title": "Approve", "next": "b"},
                                   "b": {"kind": "someday", "next": "nowhere"}, "c": "not a node"}}
    drawn = boxes(layout(odd))
    assert drawn["a"].label == "Approve" and drawn["b"].kind == "someday" and "c" in drawn
