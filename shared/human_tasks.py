"""Human tasks: the checks of a task's form (a JSON Schema) and of the data that completes it.

One module for every side that needs them: the workflow's validation at submit (the form must
be a valid, bounded JSON Schema), the reactor's completion endpoint and the console's form
(the data must fit the form, with one error naming the field). Validation is the
``jsonschema`` library's (Draft 2020-12 unless the schema names its own ``$schema``).

A task is its event: its id is the id of the ``task`` wait it parked (``<job>~<fence>.<i>``),
so ``ee event`` and ``ee events --kind task`` see it too.
"""

from __future__ import annotations

import re
from typing import Any

import jsonschema
import jsonschema.exceptions
import jsonschema.validators
import msgspec

from shared.bounds import bounded_text
from shared.errors import FormRefused

__all__ = [
    "ASSIGNEE",
    "MAX_FORM_BYTES",
    "MAX_TITLE",
    "check_assignee",
    "check_data",
    "form_fields",
    "form_problem",
]

# A form bigger than this is a mistake (the inbox shows every form): refused at submit.
MAX_FORM_BYTES = 32 * 1024
MAX_TITLE = 200
# A user (``alice``, ``alice.smith``) or a group (``group:finance``). Stored in a key
# (``tasks:assignee:<assignee>``, the last part of it): of the characters of names only.
ASSIGNEE = re.compile(r"(group:)?[A-Za-z0-9._-]{1,120}")


def check_assignee(value: str) -> str | None:
    """Why ``value`` is no assignee, or None when it is one."""
    if ASSIGNEE.fullmatch(value):
        return None
    return (f"{bounded_text(repr(value), 60)} is not a user or group: 1 to 120 characters of "
            "[A-Za-z0-9._-], with 'group:' before a group")


def form_problem(form: Any) -> str | None:
    """Why ``form`` cannot be a task's form, or None when it can: a JSON object, at most
    MAX_FORM_BYTES as JSON, a valid JSON Schema (the validator's own meta-schema check)."""
    if not isinstance(form, dict):
        return "must be a JSON Schema object"
    size = len(msgspec.json.encode(form))
    if size > MAX_FORM_BYTES:
        return f"a form of {size} bytes: at most {MAX_FORM_BYTES}"
    cls = jsonschema.validators.validator_for(form, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(form)
    except jsonschema.exceptions.SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path)
        return bounded_text(f"not a valid JSON Schema{f' at {where}' if where else ''}: {exc.message}", 200)
    return None


def _field(error: jsonschema.exceptions.ValidationError) -> str:
    """The field an error is about: its path in the data, or for a missing required property,
    that property."""
    path = ".".join(str(p) for p in error.absolute_path)
    if error.validator == "required" and isinstance(error.validator_value, list):
        missing = next((name for name in error.validator_value
                        if isinstance(error.instance, dict) and name not in error.instance), None)
        if missing is not None:
            return f"{path}.{missing}" if path else str(missing)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set((error.schema or {}).get("properties", {})) if isinstance(error.schema, dict) else set()
        extra = sorted(str(k) for k in error.instance if k not in allowed)
        if extra:
            return f"{path}.{extra[0]}" if path else extra[0]
    return path


def check_data(task_id: str, form: Any, data: Any) -> None:
    """Raise FormRefused naming the first field of ``data`` that does not fit ``form``
    (the most relevant error first: jsonschema's ``best_match``)."""
    cls = jsonschema.validators.validator_for(form, default=jsonschema.Draft202012Validator)
    validator = cls(form)
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is None:
        return
    field = _field(error)
    message = error.message
    if error.validator == "required":
        message = "is required"
    raise FormRefused(task_id, field, bounded_text(message, 200))


def form_fields(form: Any) -> list[dict[str, Any]]:
    """The top-level properties of an object form, as the console draws them: name, label,
    type (string, number, integer, boolean, enum, json for any other), required, enum values,
    description and default."""
    if not isinstance(form, dict):
        return []
    props = form.get("properties")
    if not isinstance(props, dict):
        return []
    required = set(form.get("required") or [])
    out = []
    for name, spec in props.items():
        spec = spec if isinstance(spec, dict) else {}
        kind = spec.get("type")
        if isinstance(spec.get("enum"), list):
            kind = "enum"
        elif kind not in ("string", "number", "integer", "boolean"):
            kind = "json"
        out.append({"name": str(name), "label": str(spec.get("title") or name), "type": kind,
                    "required": name in required, "enum": list(spec.get("enum") or []),
                    "description": str(spec.get("description") or ""), "default": spec.get("default")})
    return out
