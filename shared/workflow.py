"""The workflow model and its full validation.

A workflow is JSON; msgspec checks its shape, then :func:`validate` checks
what a type cannot say (every ``next`` names a node, every expression
compiles), naming the node and the field of the first problem found.

A problem is one of two kinds. :class:`~shared.errors.UnreadableWorkflow`: a node kind or a
field this build does not know, which a newer build may (its job waits for an executor that
can read it). Any other :class:`~shared.errors.InvalidWorkflow`: no build could accept it (not
JSON, a dangling ``next``, a bad expression, a wrong type for a known field).
"""

from __future__ import annotations

import hashlib
import math
from functools import lru_cache
from typing import Annotated, Any, Literal

import jmespath
import jmespath.exceptions
import msgspec
import msgspec.inspect

from shared.bounds import MAX_DATA_DEPTH, bounded_text, nested_deeper_than, object_deeper_than
from shared.errors import InvalidName, InvalidWorkflow, UnreadableWorkflow
from shared.forget import FORGOTTEN_NODE_KINDS
from shared.naming import NameKind, check_name
from shared.unknown_parts import first_unknown

__all__ = [
    "ActivityNode",
    "BranchCase",
    "BranchNode",
    "EndNode",
    "FailNode",
    "LockBotNode",
    "Node",
    "RetryPolicy",
    "SleepNode",
    "UnlockBotNode",
    "WaitSignalNode",
    "Workflow",
    "compile_expression",
    "decode_workflow",
    "json_type",
    "workflow_digest",
]

MAX_NODES = 1000
# Bounds of a retry policy: a policy past them is a typo, not a plan (docs/workflows.md).
MAX_ATTEMPTS = 100
MAX_BACKOFF_S = 86_400.0
MAX_MULTIPLIER = 10.0


class RetryPolicy(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    max_attempts: int = 1
    backoff_s: float = 1.0
    multiplier: float = 2.0
    max_backoff_s: float = 300.0


class _NodeBase(msgspec.Struct, tag_field="kind", forbid_unknown_fields=True):
    pass


class ActivityNode(_NodeBase, tag="activity"):
    activity: str
    next: str | None = None
    input: dict[str, str] = {}
    output: str | None = None
    timeout_s: float | None = None
    retry: RetryPolicy | None = None
    on_bot: bool = False


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


class SleepNode(_NodeBase, tag="sleep"):
    seconds: float
    next: str | None = None


class LockBotNode(_NodeBase, tag="lock_bot"):
    pool: str
    next: str | None = None
    output: str | None = None
    timeout_s: float | None = None


class UnlockBotNode(_NodeBase, tag="unlock_bot"):
    next: str | None = None


class EndNode(_NodeBase, tag="end"):
    output: str | None = None


class FailNode(_NodeBase, tag="fail"):
    error: str = "failed"


Node = (
    ActivityNode | BranchNode | WaitSignalNode | SleepNode | LockBotNode | UnlockBotNode
    | EndNode | FailNode
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


def _check_next(workflow: Workflow, node: str, field: str, target: str | None) -> None:
    if target is not None and target not in workflow.nodes:
        raise InvalidWorkflow(node, field, f"names unknown node {target!r}")


def _check_positive(node: str, field: str, value: float | None) -> None:
    if value is not None and not (value > 0 and math.isfinite(value)):
        raise InvalidWorkflow(node, field, f"must be a positive number, got {value}")


def _check_name(node: str | None, field: str, kind: NameKind, value: str, enforce: bool = True) -> None:
    if not enforce:
        return
    try:
        check_name(kind, value)
    except InvalidName as exc:
        raise InvalidWorkflow(node, field, str(exc)) from exc


def _check_retry(node: str, retry: RetryPolicy) -> None:
    if not 1 <= retry.max_attempts <= MAX_ATTEMPTS:
        raise InvalidWorkflow(node, "retry.max_attempts",
                              f"must be from 1 to {MAX_ATTEMPTS}, got {retry.max_attempts}")
    for field, value, least, most in (("backoff_s", retry.backoff_s, 0, MAX_BACKOFF_S),
                                      ("multiplier", retry.multiplier, 1, MAX_MULTIPLIER),
                                      ("max_backoff_s", retry.max_backoff_s, 0, MAX_BACKOFF_S)):
        if not least <= value <= most:  # also refuses NaN
            raise InvalidWorkflow(node, f"retry.{field}", f"must be from {least:g} to {most:g}, got {value}")


def validate(workflow: Workflow, check_names: bool = True) -> Workflow:
    """Check what the types cannot: references, expressions, numbers, names. Returns the workflow.

    ``check_names=False`` skips the name rules (``shared.naming``), for a workflow the engine
    stored before they existed: its parked jobs still run to their end."""
    names = check_names
    if not workflow.nodes:
        raise InvalidWorkflow(None, "nodes", "a workflow needs at least one node")
    if len(workflow.nodes) > MAX_NODES:
        raise InvalidWorkflow(None, "nodes", f"at most {MAX_NODES} nodes")
    _check_name(None, "name", "workflow", workflow.name, names)
    if workflow.start not in workflow.nodes:
        raise InvalidWorkflow(None, "start", f"names unknown node {workflow.start!r}")
    for name, node in workflow.nodes.items():
        _check_name(None, "nodes", "node", name, names)
        match node:
            case ActivityNode():
                _check_name(name, "activity", "activity", node.activity, names)
                for key, expr in node.input.items():
                    _check_expression(name, f"input.{key}", expr)
                _check_positive(name, "timeout_s", node.timeout_s)
                if node.retry is not None:
                    _check_retry(name, node.retry)
            case BranchNode():
                for i, case in enumerate(node.cases):
                    _check_expression(name, f"cases[{i}].when", case.when)
                    _check_next(workflow, name, f"cases[{i}].next", case.next)
                _check_next(workflow, name, "default", node.default)
                continue
            case WaitSignalNode():
                _check_name(name, "signal", "signal", node.signal, names)
                _check_positive(name, "timeout_s", node.timeout_s)
            case SleepNode():
                if not (node.seconds >= 0 and math.isfinite(node.seconds)):
                    raise InvalidWorkflow(name, "seconds", f"must be a number >= 0, got {node.seconds}")
            case LockBotNode():
                _check_name(name, "pool", "pool", node.pool, names)
                _check_positive(name, "timeout_s", node.timeout_s)
            case EndNode():
                if node.output is not None:
                    _check_expression(name, "output", node.output)
                continue
            case FailNode():
                continue
            case UnlockBotNode():
                pass
        nxt = getattr(node, "next", None)
        if nxt is None:
            raise InvalidWorkflow(name, "next", "is required for this node kind")
        _check_next(workflow, name, "next", nxt)
    return workflow


_NODE_TYPE = msgspec.inspect.type_info(Node)
_WORKFLOW_TYPE = msgspec.inspect.type_info(Workflow)


def _check_readable(node: str | None, t: msgspec.inspect.Type, raw: Any) -> None:
    """Raise UnreadableWorkflow for the first kind or field of ``raw`` this build does not know."""
    found = first_unknown(t, raw, FORGOTTEN_NODE_KINDS)
    if found is not None:
        raise UnreadableWorkflow(node, *found)


def _convert_node(name: str, raw: Any) -> Node:
    if FORGOTTEN_NODE_KINDS:  # test-only (shared.forget): look before msgspec, which knows them all
        _check_readable(name, _NODE_TYPE, raw)
    try:
        node: Node = msgspec.convert(raw, Node)
        return node
    except msgspec.ValidationError as exc:
        # Told apart only once conversion failed: the happy path pays nothing for it.
        _check_readable(name, _NODE_TYPE, raw)
        reason, _, path = str(exc).partition(" - at `$")
        field = path.rstrip("`").lstrip(".") or None
        raise InvalidWorkflow(name, field, reason) from exc


def json_type(value: object) -> str:
    """What a parsed JSON value is, in words, for messages: "an array", "null", ..."""
    match value:
        case None:
            return "null"
        case bool():
            return "a boolean"
        case int() | float():
            return "a number"
        case str():
            return "a string"
        case list():
            return "an array"
        case _:
            return type(value).__name__


def decode_workflow(data: object, *, check_names: bool = True) -> Workflow:
    """Decode and fully validate a workflow from JSON text (bytes or str) or an already-parsed
    object (anything else: a dict, or what a JSON file held, refused unless an object).
    ``check_names``: see :func:`validate`.

    Raises UnreadableWorkflow (a kind or field unknown to this build) or InvalidWorkflow."""
    if isinstance(data, bytes | str):
        if nested_deeper_than(data, MAX_DATA_DEPTH):
            raise InvalidWorkflow(None, None, f"nested more than {MAX_DATA_DEPTH} levels deep (the limit)")
        try:
            raw: Any = msgspec.json.decode(data)
        except Exception as exc:  # DecodeError, or anything the decoder hits on hostile bytes
            raise InvalidWorkflow(None, None, bounded_text(f"not valid JSON: {exc}")) from exc
    else:
        raw = data
        if object_deeper_than(raw, MAX_DATA_DEPTH):
            raise InvalidWorkflow(None, None, f"nested more than {MAX_DATA_DEPTH} levels deep (the limit)")
    if not isinstance(raw, dict):
        raise InvalidWorkflow(None, None, f"a workflow is a JSON object, not {json_type(raw)}")
    nodes = raw.get("nodes")
    if not isinstance(nodes, dict):
        raise InvalidWorkflow(None, "nodes", "must be an object of node id to node")
    converted = {str(name): _convert_node(str(name), node) for name, node in nodes.items()}
    try:
        workflow = msgspec.convert({**raw, "nodes": {}}, Workflow)
    except msgspec.ValidationError as exc:
        _check_readable(None, _WORKFLOW_TYPE, {**raw, "nodes": {}})
        reason, _, path = str(exc).partition(" - at `$")
        raise InvalidWorkflow(None, path.rstrip("`").lstrip(".") or None, reason) from exc
    return validate(msgspec.structs.replace(workflow, nodes=converted), check_names)


_encoder = msgspec.json.Encoder(order="deterministic")


def encode_workflow(workflow: Workflow) -> bytes:
    return _encoder.encode(workflow)


def workflow_digest(encoded: bytes) -> str:
    """Content address of an encoded workflow: jobs of one workflow share one stored copy."""
    return hashlib.blake2b(encoded, digest_size=12).hexdigest()
