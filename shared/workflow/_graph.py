"""What the shape of a workflow says before it runs: which nodes are reached, and whether an
``on_bot`` activity can hold a bot.

Both walk each (sub-)workflow from its ``start`` along every ``next``, ``cases``, ``default``
and ``catch`` route; a fork's sub-workflows are walked with what holds at the fork.
"""

from __future__ import annotations

from collections import deque

from shared.workflow._model import (
    ActivityNode,
    LockBotNode,
    Node,
    UnlockBotNode,
    Workflow,
    sub_workflows,
    successors,
)

__all__ = ["inner_path", "node_paths", "on_bot_without_bot", "reached", "workflow_warnings"]


def inner_path(path: str, branch: str) -> str:
    """The prefix of the ids of a fork's sub-workflow as shown: ``both.erp/`` (branch ``erp`` of
    parallel ``both``) or ``each/`` (the body of map ``each``; at run time ``each[3]/``)."""
    return f"{path}.{branch}/" if branch else f"{path}/"


def reached(start: str, nodes: dict[str, Node]) -> list[str]:
    """Ids of the nodes reached from ``start``, in the order found."""
    seen = {start}
    order = [start]
    queue = deque([start])
    while queue:
        node = nodes.get(queue.popleft())
        if node is None:
            continue
        for _, target in successors(node):
            if target not in seen:
                seen.add(target)
                order.append(target)
                queue.append(target)
    return order


def node_paths(start: str, nodes: dict[str, Node], prefix: str = "") -> list[tuple[str, Node]]:
    """Every node of a (sub-)workflow and of its forks' sub-workflows, with its shown path."""
    found: list[tuple[str, Node]] = []
    for name, node in nodes.items():
        path = f"{prefix}{name}"
        found.append((path, node))
        for branch, sub in sub_workflows(node):
            found.extend(node_paths(sub.start, sub.nodes, inner_path(path, branch)))
    return found


def _warnings(start: str, nodes: dict[str, Node], prefix: str) -> list[str]:
    found = []
    reachable = set(reached(start, nodes))
    for name, node in nodes.items():
        path = f"{prefix}{name}"
        if name not in reachable:
            found.append(f"node {path!r} is never reached (no route from {prefix + start!r} leads to it)")
        for branch, sub in sub_workflows(node):
            found.extend(_warnings(sub.start, sub.nodes, inner_path(path, branch)))
    return found


def workflow_warnings(workflow: Workflow) -> list[str]:
    """What is suspect in a valid workflow but does not stop it: nodes that nothing leads to.
    ``ee submit`` prints these before it submits."""
    return _warnings(workflow.start, workflow.nodes, "")


def on_bot_without_bot(start: str, nodes: dict[str, Node], prefix: str = "",
                       inherited: bool = False) -> str | None:
    """The path of the first ``on_bot`` activity that no route reaches holding a bot, or None.

    A route holds a bot after a ``lock_bot`` of its own branch until an ``unlock_bot`` (which
    releases the branch's own bot only), or when the route into the fork held one
    (``inherited``). Unreached nodes are not judged (they are warnings)."""
    # (node, holds its own bot) pairs reached; a node may be reached both ways.
    states = {(start, False)}
    queue = deque(states)
    while queue:
        name, own = queue.popleft()
        node = nodes.get(name)
        if node is None:
            continue
        for field, target in successors(node):
            holds = own
            if isinstance(node, LockBotNode) and field == "next":
                holds = True
            elif isinstance(node, UnlockBotNode):
                holds = False
            if (target, holds) not in states:
                states.add((target, holds))
                queue.append((target, holds))
    with_bot = {name for name, own in states if own or inherited}
    reached_at = {name for name, _ in states}
    for name, node in nodes.items():
        if name not in reached_at:
            continue
        path = f"{prefix}{name}"
        if isinstance(node, ActivityNode) and node.on_bot and name not in with_bot:
            return path
        for branch, sub in sub_workflows(node):
            # Checked with the best the fork may hold: a route that does not hold one is caught
            # at run time ("runs on_bot but the job holds no bot").
            found = on_bot_without_bot(sub.start, sub.nodes, inner_path(path, branch), name in with_bot)
            if found is not None:
                return found
    return None
