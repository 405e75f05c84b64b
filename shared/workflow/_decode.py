"""Reading a workflow from JSON: shape (msgspec), then :func:`~shared.workflow.validate`.

A problem is one of two kinds. :class:`~shared.errors.UnreadableWorkflow`: a node kind or a
field this build does not know, which a newer build may (its job waits for an executor that
can read it). Any other :class:`~shared.errors.InvalidWorkflow`: no build could accept it (not
JSON, a dangling ``next``, a bad expression, a wrong type for a known field).

Nodes are converted one by one, those of sub-workflows too, so that an error names the node
by its path (``both.erp/post``: node ``post`` of branch ``erp`` of parallel ``both``;
``each/run``: node ``run`` of the body of map ``each``).
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec
import msgspec.inspect as mi

from shared.bounds import MAX_DATA_DEPTH, bounded_text, nested_deeper_than, object_deeper_than
from shared.errors import InvalidWorkflow, UnreadableWorkflow
from shared.forget import FORGOTTEN_NODE_KINDS
from shared.unknown_parts import first_unknown
from shared.workflow._graph import inner_path
from shared.workflow._model import Node, SubWorkflow, Workflow
from shared.workflow._validate import validate

__all__ = ["decode_workflow", "encode_workflow", "json_type", "workflow_digest"]

_NODE_TYPE = mi.type_info(Node)
_WORKFLOW_TYPE = mi.type_info(Workflow)


def _struct_at(t: mi.Type, raw: Any, path: list[str]) -> mi.StructType | None:
    """The struct type that holds the last part of ``path`` (field names and ``[i]`` indexes,
    as :func:`first_unknown` reports them) inside ``raw`` of type ``t``."""
    for part in path:
        t = _chosen(t, raw)
        if isinstance(t, mi.StructType) and isinstance(raw, dict):
            fields = {f.encode_name: f.type for f in t.fields}
            if part not in fields:
                return t
            t, raw = fields[part], raw.get(part)
        elif isinstance(t, mi.DictType) and isinstance(raw, dict):
            t, raw = t.value_type, raw.get(part)
        elif isinstance(t, mi.ListType) and isinstance(raw, list) and part.isdigit() and int(part) < len(raw):
            t, raw = t.item_type, raw[int(part)]
        else:
            return None
    return None


def _chosen(t: mi.Type, raw: Any) -> mi.Type:
    """The member of an optional or tagged union that ``raw`` is."""
    if not isinstance(t, mi.UnionType):
        return t
    structs = [s for s in t.types if isinstance(s, mi.StructType)]
    for s in structs:
        if s.tag_field is None or (isinstance(raw, dict) and raw.get(s.tag_field) == s.tag):
            return s
    others = [s for s in t.types if not isinstance(s, mi.NoneType)]
    return others[0] if len(others) == 1 else t


def _allowed(t: mi.Type, raw: Any, field: str) -> str:
    """`` (node kind 'x' allows: a, b, c)`` for an unknown ``field`` (a dotted path), or ""."""
    parts = [p for p in field.replace("[", ".").replace("]", "").split(".") if p]
    struct = _struct_at(t, raw, parts)
    if struct is None:
        return ""
    names = [f.encode_name for f in struct.fields]
    if struct.tag_field is not None:
        return f" (node kind {struct.tag!r} allows: {', '.join([struct.tag_field, *names])})"
    return f" (allowed here: {', '.join(names)})"


def _check_readable(node: str | None, t: mi.Type, raw: Any) -> None:
    """Raise UnreadableWorkflow for the first kind or field of ``raw`` this build does not know."""
    found = first_unknown(t, raw, FORGOTTEN_NODE_KINDS)
    if found is not None:
        field, reason = found
        if reason.startswith("unknown field"):
            reason += _allowed(t, raw, field)
        raise UnreadableWorkflow(node, field, reason)


def _split(raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The node with the nodes of its sub-workflows left out, and those, by branch name ("" for
    a map's body): each sub-workflow's nodes are converted on their own."""
    inner: dict[str, dict[str, Any]] = {}
    match raw.get("kind"):
        case "parallel" if isinstance(raw.get("branches"), dict):
            branches = {}
            for name, sub in raw["branches"].items():
                if isinstance(sub, dict) and isinstance(sub.get("nodes"), dict):
                    inner[str(name)] = sub["nodes"]
                    sub = {**sub, "nodes": {}}
                branches[name] = sub
            return {**raw, "branches": branches}, inner
        case "map" if isinstance(raw.get("body"), dict) and isinstance(raw["body"].get("nodes"), dict):
            inner[""] = raw["body"]["nodes"]
            return {**raw, "body": {**raw["body"], "nodes": {}}}, inner
    return raw, inner


def _with_nodes(sub: SubWorkflow, nodes: dict[str, Node]) -> SubWorkflow:
    return msgspec.structs.replace(sub, nodes=nodes)


def _convert_nodes(prefix: str, raw: dict[Any, Any]) -> dict[str, Node]:
    return {str(name): _convert_node(f"{prefix}{name}", node) for name, node in raw.items()}


def _convert_node(path: str, raw: Any) -> Node:
    if FORGOTTEN_NODE_KINDS:  # test-only (shared.forget): look before msgspec, which knows them all
        _check_readable(path, _NODE_TYPE, raw)
    shell, inner = _split(raw) if isinstance(raw, dict) else (raw, {})
    try:
        node: Node = msgspec.convert(shell, Node)
    except msgspec.ValidationError as exc:
        # Told apart only once conversion failed: the happy path pays nothing for it.
        _check_readable(path, _NODE_TYPE, shell)
        reason, _, at = str(exc).partition(" - at `$")
        raise InvalidWorkflow(path, at.rstrip("`").lstrip(".") or None, reason) from exc
    if inner:
        subs = {name: _convert_nodes(inner_path(path, name), nodes) for name, nodes in inner.items()}
        if "" in subs and hasattr(node, "body"):
            node.body = _with_nodes(node.body, subs[""])
        elif hasattr(node, "branches"):
            node.branches = {name: _with_nodes(sub, subs.get(name, sub.nodes))
                             for name, sub in node.branches.items()}
    return node


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
    ``check_names``: see :func:`~shared.workflow.validate`.

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
    converted = _convert_nodes("", nodes)
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
