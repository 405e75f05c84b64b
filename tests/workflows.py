"""Workflows the tests submit."""

from __future__ import annotations

from typing import Any

from benchmarks.common import chain

__all__ = ["BRANCHY", "FAILING", "THREE_STEPS", "chain", "sleeper"]


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
