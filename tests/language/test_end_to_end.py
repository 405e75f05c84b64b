"""The second edition through real servers: a parallel, a map with a business rejection caught in
its body, all on the demo worker.

Needs the reactor to offer a wake for every fired event a park leaves unconsumed (``Wake.fired``,
built beside this executor): until both are merged, the second branch's result waits unapplied.
"""

from __future__ import annotations

from typing import Any

from tests.support.stack import Stack


def echo(value: str, output: str = "r") -> dict[str, Any]:
    return {"kind": "activity", "activity": "demo.echo", "input": {"v": value}, "output": output, "next": "e"}


FLOW = {"name": "second", "start": "both", "nodes": {
    "both": {"kind": "parallel", "output": "both", "next": "each", "branches": {
        "x": {"start": "a", "nodes": {"a": echo("`1`"), "e": {"kind": "end", "output": "vars.r.v"}}},
        "y": {"start": "a", "nodes": {"a": echo("`2`"), "e": {"kind": "end", "output": "vars.r.v"}}}}},
    "each": {"kind": "map", "items": "input.items", "max_concurrency": 3, "output": "m", "next": "total",
             "body": {"start": "check", "nodes": {
                 "check": {"kind": "branch", "cases": [{"when": "item < `0`", "next": "no"}], "default": "a"},
                 "no": {"kind": "activity", "activity": "demo.reject", "input": {"message": "'negative'",
                                                                                 "code": "'NEG'"},
                        "next": "e", "catch": [{"error": "business", "output": "why", "next": "skip"}]},
                 "skip": {"kind": "end", "output": "vars.why.code"},
                 "a": echo("item"),
                 "e": {"kind": "end", "output": "vars.r.v"}}}},
    "total": {"kind": "set", "vars": {"n": "length(vars.m)"}, "next": "done"},
    "done": {"kind": "end", "output": "{both: vars.both, m: vars.m, n: vars.n}"}}}


def test_parallel_and_map_complete_with_outputs_in_order(engine: Stack) -> None:
    items = [3, -1, 5, 8, -2, 13, 21]
    job = engine.submit(FLOW, {"items": items})
    done = engine.wait_job(job, timeout=60)
    assert done["status"] == "completed", done
    assert done["output"] == {"both": {"x": 1, "y": 2}, "m": [3, "NEG", 5, 8, "NEG", 13, 21], "n": 7}
