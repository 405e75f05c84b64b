"""Workflows the tests submit."""

from __future__ import annotations

from typing import Any


def chain(n: int, activity: str = "demo.echo") -> dict[str, Any]:
    """n sequential activities, each echoing the previous output; ends with the last."""
    nodes: dict[str, Any] = {}
    for i in range(n):
        source = "input" if i == 0 else f"vars.s{i - 1}"
        nodes[f"s{i}"] = {"kind": "activity", "activity": activity, "input": {"v": f"{source}.v"},
                          "output": f"s{i}", "next": f"s{i + 1}" if i + 1 < n else "done"}
    nodes["done"] = {"kind": "end", "output": f"vars.s{n - 1}"}
    return {"name": f"chain{n}", "version": 1, "start": "s0", "nodes": nodes}


THREE_STEPS = {
    "name": "three", "version": 1, "start": "add",
    "nodes": {
        "add": {"kind": "activity", "activity": "demo.add", "input": {"a": "input.a", "b": "input.b"},
                "output": "added", "next": "echo"},
        "echo": {"kind": "activity", "activity": "demo.echo", "input": {"total": "vars.added.sum"},
                 "output": "echoed", "next": "again"},
        "again": {"kind": "activity", "activity": "demo.add",
                  "input": {"a": "vars.echoed.total", "b": "`100`"}, "output": "final", "next": "done"},
        "done": {"kind": "end", "output": "{sum: vars.final.sum, first: vars.added.sum}"},
    },
}

BRANCHY = {
    "name": "branchy", "version": 1, "start": "fetch",
    "nodes": {
        "fetch": {"kind": "activity", "activity": "demo.echo", "input": {"amount": "input.amount"},
                  "output": "fetched", "next": "check"},
        "check": {"kind": "branch", "cases": [{"when": "vars.fetched.amount > `100`", "next": "big"}],
                  "default": "small"},
        "big": {"kind": "end", "output": "'big'"},
        "small": {"kind": "end", "output": "'small'"},
    },
}

FAILING = {
    "name": "failing", "version": 1, "start": "boom",
    "nodes": {
        "boom": {"kind": "activity", "activity": "demo.fail", "input": {"message": "input.message"},
                 "output": "x", "next": "done"},
        "done": {"kind": "end"},
    },
}


def sleeper(seconds: float) -> dict[str, Any]:
    return {
        "name": "sleeper", "version": 1, "start": "nap",
        "nodes": {
            "nap": {"kind": "activity", "activity": "demo.sleep", "input": {"seconds": f"`{seconds}`"},
                    "output": "slept", "next": "done"},
            "done": {"kind": "end", "output": "vars.slept"},
        },
    }
