"""An activity's limit and key, as its wait carries them (``ActivityWait.limit``/``limit_key``).

The key is the value of the node's ``limit.key`` expression when the node is entered: text as it
is, anything else as compact JSON (``null``: the key ``""``, the same as no key). A long key is
replaced by its digest, so that the Redis keys built from it stay short
(``limit-running:<limit>:<key>``)."""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from executor.expressions import search
from shared.workflow import ActivityNode

__all__ = ["MAX_KEY_CHARS", "limit_of"]

MAX_KEY_CHARS = 128
_json = msgspec.json.Encoder(order="sorted")


def limit_of(path: str, node: ActivityNode, scope: dict[str, Any]) -> tuple[str | None, str]:
    """(limit name, key) of the activity node at ``path``: (None, "") for none."""
    spec = node.limit
    if spec is None:
        return None, ""
    if isinstance(spec, str):
        return spec, ""
    if spec.key is None:
        return spec.name, ""
    value = search(path, spec.key, scope)
    if value is None:
        key = ""
    elif isinstance(value, str):
        key = value
    else:
        key = _json.encode(value).decode()
    if len(key) > MAX_KEY_CHARS:
        key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    return spec.name, key
