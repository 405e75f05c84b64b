"""A workflow laid out for drawing: its nodes in layers (by distance from the start), each with
its outgoing edges, nested sub-workflows (``parallel`` branches, a ``map`` body) inside their
node, and the nodes the job is at (or went through) marked.

Works on the workflow's JSON as stored, not on a decoded workflow, so that a node kind this
build does not know is still drawn (as its kind and its edges)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Box", "Edge", "Graph", "layout", "normalise_path"]

_INDEX = re.compile(r"\[\d+\]")
_LABEL_MAX = 48


def normalise_path(node: str) -> str:
    """A node path as the history and waits carry it (``each[3]/run``) with map indexes
    folded (``each[*]/run``): one box stands for every item of a map."""
    return _INDEX.sub("[*]", node)


@dataclass
class Edge:
    label: str  # "" for a plain next, the case's condition, "default", "catch business", ...
    target: str


@dataclass
class Graph:
    name: str  # "" at the top, else the branch name or "body"
    layers: list[list[Box]] = field(default_factory=list)


@dataclass
class Box:
    id: str
    path: str  # as the history names it: "post", "both.erp/post", "each[*]/run"
    kind: str
    label: str
    edges: list[Edge]
    state: str = ""  # current, failed, visited or ""
    inner: list[Graph] = field(default_factory=list)


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= _LABEL_MAX else text[:_LABEL_MAX - 1] + "…"


def _label(node: dict[str, Any]) -> str:
    kind = node.get("kind")
    for key in {"activity": ("activity",), "wait_signal": ("signal",), "sleep": ("seconds",),
                "lock_bot": ("pool",), "call": ("workflow",), "map": ("items",), "human_task": ("title",),
                "fail": ("error",), "end": ("output",)}.get(str(kind), ()):
        if node.get(key) is not None:
            return _short(f"{node[key]} s" if key == "seconds" else node[key])
    if kind == "set" and isinstance(node.get("vars"), dict):
        return _short(", ".join(node["vars"]))
    if kind == "parallel" and isinstance(node.get("branches"), dict):
        return f"{len(node['branches'])} branches"
    return ""


def _edges(node: dict[str, Any]) -> list[Edge]:
    edges: list[Edge] = []
    if isinstance(node.get("next"), str):
        edges.append(Edge("", node["next"]))
    for case in node.get("cases") or []:
        if isinstance(case, dict) and isinstance(case.get("next"), str):
            edges.append(Edge(_short(case.get("when", "")), case["next"]))
    if isinstance(node.get("default"), str):
        edges.append(Edge("default", node["default"]))
    for catch in node.get("catch") or []:
        if isinstance(catch, dict) and isinstance(catch.get("next"), str):
            edges.append(Edge(f"catch {catch.get('error', '*')}", catch["next"]))
    return edges


def _state(path: str, current: set[str], failed: set[str], visited: set[str]) -> str:
    def inside(paths: set[str]) -> bool:
        return any(p == path or p.startswith((path + ".", path + "[*]/")) for p in paths)

    if inside(current):
        return "current"
    if inside(failed):
        return "failed"
    return "visited" if inside(visited) else ""


def _graph(name: str, flow: dict[str, Any], prefix: str, marks: tuple[set[str], set[str], set[str]],
           depth: int) -> Graph:
    nodes = flow.get("nodes") if isinstance(flow.get("nodes"), dict) else {}
    assert isinstance(nodes, dict)
    start = flow.get("start")
    order: dict[str, int] = {}
    frontier = [start] if isinstance(start, str) and start in nodes else []
    level = 0
    while frontier:  # breadth first: a node's layer is its shortest distance from the start
        following: list[str] = []
        for node_id in frontier:
            if node_id in order:
                continue
            order[node_id] = level
            node = nodes[node_id]
            if isinstance(node, dict):
                following += [e.target for e in _edges(node) if e.target in nodes and e.target not in order]
        frontier, level = following, level + 1
    for node_id in nodes:  # unreachable ones (a valid workflow has none): drawn last
        order.setdefault(node_id, level)
    graph = Graph(name)
    for node_id, at in sorted(order.items(), key=lambda item: item[1]):
        while len(graph.layers) <= at:
            graph.layers.append([])
        node = nodes[node_id] if isinstance(nodes[node_id], dict) else {}
        path = prefix + node_id
        box = Box(node_id, path, str(node.get("kind", "?")), _label(node), _edges(node), _state(path, *marks))
        if depth < 8:  # the language's nesting limit
            if isinstance(node.get("branches"), dict):
                box.inner = [_graph(branch, sub, f"{path}.{branch}/", marks, depth + 1)
                             for branch, sub in node["branches"].items() if isinstance(sub, dict)]
            if isinstance(node.get("body"), dict):
                box.inner = [_graph("body", node["body"], f"{path}[*]/", marks, depth + 1)]
        graph.layers[at].append(box)
    return graph


def layout(workflow: dict[str, Any], current: Iterable[str] = (), failed: Iterable[str] = (),
           visited: Iterable[str] = ()) -> Graph:
    """The workflow as layers of boxes; ``current`` / ``failed`` / ``visited``: node paths as
    the job's waits and history name them (map indexes are folded)."""
    marks = ({normalise_path(p) for p in current if p}, {normalise_path(p) for p in failed if p},
             {normalise_path(p) for p in visited if p})
    return _graph("", workflow, "", marks, 0)
