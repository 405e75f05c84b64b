"""Which part of a JSON value a msgspec type has no place for: a field or a tag it does not know.

This is what tells "this build cannot read it" (a node kind or a field added by a newer
build) from "no build could accept it" (bad JSON, a wrong type for a known field): only the
first may run on another executor. Types evolve only by adding fields and tags, so a part
this build knows is read the same way by every build.
"""

from __future__ import annotations

from typing import Any

import msgspec.inspect as mi

__all__ = ["first_unknown"]


def first_unknown(t: mi.Type, value: Any, forget: frozenset[str] = frozenset(),
                  path: str = "") -> tuple[str, str] | None:
    """``(field path, reason)`` of the first part of ``value`` that ``t`` does not know, or None.

    A value of another shape than ``t`` (a string for an object, say) is not looked into: that
    is for the decoder to refuse. ``forget``: tags of tagged unions to treat as unknown."""
    match t:
        case mi.StructType():
            if not isinstance(value, dict):
                return None
            fields = {f.encode_name: f.type for f in t.fields}
            for key, item in value.items():
                if key == t.tag_field:
                    continue
                if key not in fields:
                    return f"{path}{key}", f"unknown field {key!r}"
                found = first_unknown(fields[key], item, forget, f"{path}{key}.")
                if found is not None:
                    return found
        case mi.UnionType():
            structs = [s for s in t.types if isinstance(s, mi.StructType)]
            tagged = {s.tag: s for s in structs if s.tag_field is not None and s.tag not in forget}
            tag_field = next((s.tag_field for s in structs if s.tag_field is not None), None)
            if tag_field is not None and isinstance(value, dict):
                tag = value.get(tag_field)
                if isinstance(tag, str) and tag not in tagged:
                    return f"{path}{tag_field}", f"unknown node kind {tag!r}"
                chosen = tagged.get(tag) if isinstance(tag, str) else None
                return None if chosen is None else first_unknown(chosen, value, forget, path)
            for struct in structs:
                if isinstance(value, dict):
                    return first_unknown(struct, value, forget, path)
        case mi.DictType():
            if isinstance(value, dict):
                for key, item in value.items():
                    found = first_unknown(t.value_type, item, forget, f"{path}{key}.")
                    if found is not None:
                        return found
        case mi.ListType():
            if isinstance(value, list):
                for i, item in enumerate(value):
                    found = first_unknown(t.item_type, item, forget, f"{path.rstrip('.')}[{i}].")
                    if found is not None:
                        return found
    return None
