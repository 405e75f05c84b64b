"""The workflow model: one msgspec Struct per node kind, sub-workflows, catch routes, limits.

A ``parallel`` or ``map`` node holds sub-workflows (``start`` and ``nodes``, ids local to
them), so the model is recursive: :data:`Node` is the union of every kind, and a
:class:`SubWorkflow` holds nodes of any kind, forks included (up to :data:`MAX_NESTING`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

import msgspec

__all__ = [
    "ERROR_CLASSES",
    "FORK_KINDS",
    "MAX_ATTEMPTS",
    "MAX_BACKOFF_S",
    "MAX_BRANCHES",
    "MAX_CONCURRENCY",
    "MAX_MAP_ITEMS",
    "MAX_MULTIPLIER",
    "MAX_NESTING",
    "MAX_NODES",
    "ActivityNode",
    "BranchCase",
    "BranchNode",
    "CallNode",
    "CatchRoute",
    "EndNode",
    "ErrorClass",
    "FailNode",
    "HumanTaskNode",
    "LimitSpec",
    "LockBotNode",
    "MapNode",
    "Node",
    "ParallelNode",
    "RetryPolicy",
    "SetNode",
    "SleepNode",
    "SubWorkflow",
    "UnlockBotNode",
    "WaitSignalNode",
    "Workflow",
    "kind_of",
    "sub_workflows",
    "successors",
]

# Nodes in a whole workflow, its sub-workflows included.
MAX_NODES = 1000
# Bounds of a retry policy: a policy past them is a typo, not a plan (docs/workflows.md).
MAX_ATTEMPTS = 100
MAX_BACKOFF_S = 86_400.0
MAX_MULTIPLIER = 10.0
# The second edition's limits (refused at submit, or failing the job at run time for map items).
MAX_BRANCHES = 100
MAX_NESTING = 8
MAX_MAP_ITEMS = 10_000
MAX_CONCURRENCY = MAX_MAP_ITEMS

ErrorClass = Literal["business", "application", "timeout", "*"]
ERROR_CLASSES: tuple[str, ...] = ("business", "application", "timeout", "*")
FORK_KINDS = ("parallel", "map")


class RetryPolicy(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    max_attempts: int = 1
    backoff_s: float = 1.0
    multiplier: float = 2.0
    max_backoff_s: float = 300.0


class CatchRoute(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Where a failure of the class ``error`` goes instead of failing the job; ``output``: the
    variable that receives ``{"error", "type", "code", "node"}``."""

    error: ErrorClass
    next: str
    output: str | None = None


class _NodeBase(msgspec.Struct, tag_field="kind", forbid_unknown_fields=True):
    pass


class LimitSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """An activity's limit with a key: ``key``, an expression evaluated when the node is
    entered, names the separate limit (slots and tokens) the attempt counts against."""

    name: str
    key: str | None = None


class ActivityNode(_NodeBase, tag="activity"):
    activity: str
    next: str | None = None
    input: dict[str, str] = {}
    output: str | None = None
    timeout_s: float | None = None
    retry: RetryPolicy | None = None
    on_bot: bool = False
    catch: list[CatchRoute] = []
    # A limit's name, or its name and key: its attempts wait for a slot or token of it
    # (ee limit set; a limit never set is unlimited).
    limit: str | LimitSpec | None = None


class BranchCase(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    when: str
    next: str


class BranchNode(_NodeBase, tag="branch"):
    cases: list[BranchCase]
    default: str


class WaitSignalNode(_NodeBase, tag="wait_signal"):
    signal: str
    next: str | None = None
    timeout_s: float | None = None
    output: str | None = None
    catch: list[CatchRoute] = []


class SleepNode(_NodeBase, tag="sleep"):
    seconds: float
    next: str | None = None


class LockBotNode(_NodeBase, tag="lock_bot"):
    pool: str
    next: str | None = None
    output: str | None = None
    timeout_s: float | None = None
    catch: list[CatchRoute] = []


class UnlockBotNode(_NodeBase, tag="unlock_bot"):
    next: str | None = None


class EndNode(_NodeBase, tag="end"):
    output: str | None = None


class FailNode(_NodeBase, tag="fail"):
    error: str = "failed"


class SubWorkflow(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A branch of a ``parallel`` or the body of a ``map``: node ids are local to it, and an
    ``end`` in it ends the branch (its ``output`` is the branch's value)."""

    start: str
    nodes: dict[str, Node]


class ParallelNode(_NodeBase, tag="parallel"):
    branches: dict[str, SubWorkflow]
    next: str | None = None
    output: str | None = None
    catch: list[CatchRoute] = []


class MapNode(_NodeBase, tag="map"):
    items: str
    body: SubWorkflow
    next: str | None = None
    output: str | None = None
    max_concurrency: int = 10
    tolerated_failures: int = 0
    catch: list[CatchRoute] = []


class CallNode(_NodeBase, tag="call"):
    workflow: str
    next: str | None = None
    version: int | None = None
    input: dict[str, str] = {}
    output: str | None = None
    catch: list[CatchRoute] = []


class SetNode(_NodeBase, tag="set"):
    vars: dict[str, str]
    next: str | None = None


class HumanTaskNode(_NodeBase, tag="human_task"):
    """A person's task: parks a ``task`` wait until someone completes its ``form`` (a JSON
    Schema) with data, which goes into ``output``. ``details``: an expression, its value shown
    with the task. At ``due_s``: reassigned to ``escalate_to``, else failed as a timeout when a
    ``catch`` takes ``timeout``, else only overdue (shared.human_tasks)."""

    title: str
    assignee: str
    form: dict[str, Any]
    next: str | None = None
    details: str | None = None
    due_s: float | None = None
    escalate_to: str | None = None
    output: str | None = None
    catch: list[CatchRoute] = []


Node = (
    ActivityNode | BranchNode | WaitSignalNode | SleepNode | LockBotNode | UnlockBotNode
    | EndNode | FailNode | ParallelNode | MapNode | CallNode | SetNode | HumanTaskNode
)


class Workflow(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    name: str
    start: str
    nodes: dict[str, Node]
    version: int = 1
    # Flow control (docs/workflows.md): a job not finished this many seconds after it started is
    # flagged overdue; with on_deadline "fail" it fails with "deadline passed".
    deadline_s: Annotated[float, msgspec.Meta(gt=0)] | None = None
    on_deadline: Literal["flag", "fail"] = "flag"


def kind_of(node: Node) -> str:
    """The node's ``kind`` as written in JSON."""
    return str(node.__struct_config__.tag)


def successors(node: Node) -> Iterator[tuple[str, str]]:
    """``(field, node id)`` of every node this one may go to next, in its own (sub-)workflow."""
    match node:
        case BranchNode():
            for i, case in enumerate(node.cases):
                yield f"cases[{i}].next", case.next
            yield "default", node.default
            return
        case EndNode() | FailNode():
            return
    nxt = getattr(node, "next", None)
    if nxt is not None:
        yield "next", nxt
    for i, route in enumerate(getattr(node, "catch", ())):
        yield f"catch[{i}].next", route.next


def sub_workflows(node: Node) -> Iterator[tuple[str, SubWorkflow]]:
    """``(name, sub-workflow)`` of a fork: each branch of a parallel by its name, the body of a
    map under the name ``""``. Nothing for other kinds."""
    match node:
        case ParallelNode():
            yield from node.branches.items()
        case MapNode():
            yield "", node.body
