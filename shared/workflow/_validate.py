"""Full validation of a decoded workflow: what its types cannot say.

Every ``next`` names a node of the same (sub-)workflow, every expression compiles, numbers
and names are in range, the limits hold (nodes, branches, nesting), and an ``on_bot``
activity can hold a bot. The first problem found is raised, naming the node by its path and
the field.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Any

import jmespath
import jmespath.exceptions

from shared.bounds import bounded_text
from shared.errors import InvalidName, InvalidWorkflow
from shared.human_tasks import MAX_TITLE, check_assignee, form_problem
from shared.naming import NameKind, check_name
from shared.workflow._graph import inner_path, node_paths, on_bot_without_bot
from shared.workflow._model import (
    MAX_ATTEMPTS,
    MAX_BACKOFF_S,
    MAX_BRANCHES,
    MAX_CONCURRENCY,
    MAX_MULTIPLIER,
    MAX_NESTING,
    MAX_NODES,
    ActivityNode,
    BranchNode,
    CallNode,
    EndNode,
    FailNode,
    HumanTaskNode,
    LockBotNode,
    MapNode,
    Node,
    ParallelNode,
    RetryPolicy,
    SetNode,
    SleepNode,
    UnlockBotNode,
    WaitSignalNode,
    Workflow,
    sub_workflows,
    successors,
)

__all__ = ["BRANCH_NAME", "compile_expression", "validate"]

# Branch names are part of the paths shown (``both.erp/post``) and of branch keys: no dots,
# slashes or brackets, so that a path reads one way.
BRANCH_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


@lru_cache(maxsize=4096)
def compile_expression(text: str) -> Any:
    """A compiled JMESPath expression (cached: workflows reuse their expressions)."""
    return jmespath.compile(text)


def _check_expression(node: str, field: str, text: str) -> None:
    shown = repr(text) if len(text) <= 80 else f"{text[:80]!r}... ({len(text)} characters)"
    try:
        compile_expression(text)
    except jmespath.exceptions.JMESPathError as exc:
        raise InvalidWorkflow(node, field, f"bad expression {shown}: {bounded_text(str(exc))}") from exc
    except RecursionError as exc:  # the JMESPath parser recurses once per level of brackets
        raise InvalidWorkflow(node, field, f"bad expression {shown}: nested too deeply to compile") from exc


def _check_positive(node: str, field: str, value: float | None) -> None:
    if value is not None and not (value > 0 and math.isfinite(value)):
        raise InvalidWorkflow(node, field, f"must be a positive number, got {value}")


def _check_range(node: str, field: str, value: int, least: int, most: int) -> None:
    if not least <= value <= most:
        raise InvalidWorkflow(node, field, f"must be from {least} to {most}, got {value}")


def _check_name(node: str | None, field: str, kind: NameKind, value: str, enforce: bool = True) -> None:
    if not enforce:
        return
    try:
        check_name(kind, value)
    except InvalidName as exc:
        raise InvalidWorkflow(node, field, str(exc)) from exc


def _check_retry(node: str, retry: RetryPolicy) -> None:
    _check_range(node, "retry.max_attempts", retry.max_attempts, 1, MAX_ATTEMPTS)
    for field, value, least, most in (("backoff_s", retry.backoff_s, 0, MAX_BACKOFF_S),
                                      ("multiplier", retry.multiplier, 1, MAX_MULTIPLIER),
                                      ("max_backoff_s", retry.max_backoff_s, 0, MAX_BACKOFF_S)):
        if not least <= value <= most:  # also refuses NaN
            raise InvalidWorkflow(node, f"retry.{field}", f"must be from {least:g} to {most:g}, got {value}")


def _check_fields(path: str, node: Node, names: bool) -> None:
    """The checks of one node's own fields."""
    match node:
        case ActivityNode():
            _check_name(path, "activity", "activity", node.activity, names)
            for key, expr in node.input.items():
                _check_expression(path, f"input.{key}", expr)
            _check_positive(path, "timeout_s", node.timeout_s)
            if node.retry is not None:
                _check_retry(path, node.retry)
            if isinstance(node.limit, str):
                _check_name(path, "limit", "limit", node.limit, names)
            elif node.limit is not None:
                _check_name(path, "limit.name", "limit", node.limit.name, names)
                if node.limit.key is not None:
                    _check_expression(path, "limit.key", node.limit.key)
        case BranchNode():
            for i, case in enumerate(node.cases):
                _check_expression(path, f"cases[{i}].when", case.when)
        case WaitSignalNode():
            _check_name(path, "signal", "signal", node.signal, names)
            _check_positive(path, "timeout_s", node.timeout_s)
        case SleepNode():
            if not (node.seconds >= 0 and math.isfinite(node.seconds)):
                raise InvalidWorkflow(path, "seconds", f"must be a number >= 0, got {node.seconds}")
        case LockBotNode():
            _check_name(path, "pool", "pool", node.pool, names)
            _check_positive(path, "timeout_s", node.timeout_s)
        case EndNode():
            if node.output is not None:
                _check_expression(path, "output", node.output)
        case ParallelNode():
            if not node.branches:
                raise InvalidWorkflow(path, "branches", "a parallel needs at least one branch")
            if len(node.branches) > MAX_BRANCHES:
                raise InvalidWorkflow(path, "branches", f"{len(node.branches)} branches: at most {MAX_BRANCHES}")
            for branch in node.branches:
                if not BRANCH_NAME.fullmatch(branch):
                    raise InvalidWorkflow(path, f"branches.{branch[:40]}",
                                          "a branch name is 1 to 64 characters of [A-Za-z0-9_-]")
        case MapNode():
            _check_expression(path, "items", node.items)
            _check_range(path, "max_concurrency", node.max_concurrency, 1, MAX_CONCURRENCY)
            _check_range(path, "tolerated_failures", node.tolerated_failures, 0, MAX_CONCURRENCY)
        case CallNode():
            _check_name(path, "workflow", "workflow", node.workflow, names)
            if node.version is not None and node.version < 1:
                raise InvalidWorkflow(path, "version", f"must be 1 or more, got {node.version}")
            for key, expr in node.input.items():
                _check_expression(path, f"input.{key}", expr)
        case SetNode():
            if not node.vars:
                raise InvalidWorkflow(path, "vars", "a set node needs at least one variable")
            for key, expr in node.vars.items():
                _check_expression(path, f"vars.{key}", expr)
        case HumanTaskNode():
            _check_human_task(path, node)
        case FailNode() | UnlockBotNode():
            pass


def _check_human_task(path: str, node: HumanTaskNode) -> None:
    if not node.title.strip() or len(node.title) > MAX_TITLE:
        raise InvalidWorkflow(path, "title", f"must be 1 to {MAX_TITLE} characters")
    for field, value in (("assignee", node.assignee), ("escalate_to", node.escalate_to)):
        problem = None if value is None else check_assignee(value)
        if problem is not None:
            raise InvalidWorkflow(path, field, problem)
    problem = form_problem(node.form)
    if problem is not None:
        raise InvalidWorkflow(path, "form", problem)
    if node.details is not None:
        _check_expression(path, "details", node.details)
    _check_positive(path, "due_s", node.due_s)
    if node.escalate_to is not None and node.due_s is None:
        raise InvalidWorkflow(path, "escalate_to", "needs due_s (when to escalate)")


def _check_graph(start: str, nodes: dict[str, Node], prefix: str, depth: int, names: bool) -> None:
    """One (sub-)workflow at nesting ``depth`` (0: the top level), then its forks' ones."""
    where = prefix.rstrip("/") or None
    if not nodes:
        raise InvalidWorkflow(where, "nodes", "a workflow needs at least one node")
    if start not in nodes:
        raise InvalidWorkflow(where, "start", f"names unknown node {start!r}")
    for name, node in nodes.items():
        path = f"{prefix}{name}"
        _check_name(where, "nodes", "node", name, names)
        _check_fields(path, node, names)
        if getattr(node, "next", "") is None:
            raise InvalidWorkflow(path, "next", "is required for this node kind")
        for field, target in successors(node):
            if target not in nodes:
                raise InvalidWorkflow(path, field, f"names unknown node {target!r}")
        for branch, sub in sub_workflows(node):
            if depth + 1 > MAX_NESTING:
                raise InvalidWorkflow(path, "kind", f"forks nested {depth + 1} deep: at most {MAX_NESTING}")
            _check_graph(sub.start, sub.nodes, inner_path(path, branch), depth + 1, names)


def validate(workflow: Workflow, check_names: bool = True) -> Workflow:
    """Check what the types cannot: references, expressions, numbers, names, limits. Returns
    the workflow.

    ``check_names=False`` is for a workflow the engine stored when its job started: the rules
    added since (names, ``shared.naming``; an ``on_bot`` with no ``lock_bot`` on its path)
    are not applied again, so that its parked jobs run to their end."""
    total = len(node_paths(workflow.start, workflow.nodes))
    if total > MAX_NODES:
        raise InvalidWorkflow(None, "nodes", f"at most {MAX_NODES} nodes (sub-workflows included), got {total}")
    _check_name(None, "name", "workflow", workflow.name, check_names)
    _check_graph(workflow.start, workflow.nodes, "", 0, check_names)
    if check_names:
        lonely = on_bot_without_bot(workflow.start, workflow.nodes)
        if lonely is not None:
            raise InvalidWorkflow(lonely, "on_bot", "no route to this node holds a bot: lock one with a lock_bot "
                                  "before it (in its branch, or before the fork it is in)")
    return workflow
