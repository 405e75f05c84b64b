"""The console's Tasks page: the inbox with its filters (``ee tasks``' read, ``ee.task_inbox``),
each task with a form generated from its JSON Schema, and reading that form back into the data
a completion sends.

The fields drawn (``shared.human_tasks.form_fields``): text for a string, a number input for a
number or integer, a checkbox for a boolean, a select for an enum, a JSON text area for any
other type; a required field is marked. The data read back is checked with the very check of
``ee task complete`` (``check_data``), so a bad value is one message naming the field, on the
page, before anything is sent; the reactor checks it once more.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ee.console.forms import FormError, json_field
from ee.inspect import Inspector
from ee.task_inbox import inbox, task
from shared.human_tasks import check_assignee, check_data, form_fields

__all__ = ["FIELD_PREFIX", "TaskFilters", "open_form", "task_data", "task_filters", "tasks_view"]

FIELD_PREFIX = "f."  # a generated field's input name: f.<property>


@dataclass(frozen=True)
class TaskFilters:
    assignee: str | None = None
    overdue: bool = False


def task_filters(values: Mapping[str, Any]) -> TaskFilters:
    assignee = str(values.get("assignee") or "").strip() or None
    if assignee is not None:
        problem = check_assignee(assignee)
        if problem is not None:
            raise FormError("assignee", problem)
    overdue = values.get("overdue")
    if overdue not in (None, "", "1", "on", "true"):
        raise FormError("overdue", "a checkbox: on or absent")
    return TaskFilters(assignee, bool(overdue))


def _choice(value: str, options: list[Any]) -> Any:
    """The enum value a select sent (options are sent as their JSON)."""
    for option in options:
        if json.dumps(option) == value:
            return option
    try:  # not one of them: check_data names the field, with the value as it was meant
        return json.loads(value)
    except ValueError:
        return value


def _value(field: dict[str, Any], raw: str) -> Any:
    name, kind = field["name"], field["type"]
    match kind:
        case "boolean":
            return raw in ("1", "on", "true")
        case "enum":
            return _choice(raw, field["enum"])
        case "integer" | "number":
            try:
                number = float(raw)
            except ValueError:
                return raw  # a string where a number goes: check_data says so, naming the field
            return int(number) if number.is_integer() and abs(number) < 2**53 else number
        case "json":
            return json_field({name: raw}, name)
    return raw


def task_data(task_id: str, form: Any, values: Mapping[str, Any]) -> dict[str, Any]:
    """The data of a submitted task form, checked against its schema (FormRefused names the
    field). An empty input is left out (so a required one is reported missing), a checkbox is
    always sent (unchecked: false)."""
    data: dict[str, Any] = {}
    for field in form_fields(form):
        key = FIELD_PREFIX + field["name"]
        raw = values.get(key)
        if field["type"] == "boolean":
            data[field["name"]] = _value(field, str(raw or ""))
            continue
        if not isinstance(raw, str) or not raw.strip():
            continue
        try:
            data[field["name"]] = _value(field, raw.strip())
        except FormError as exc:
            raise FormError(f"field {field['name']!r}", str(exc).split(": ", 1)[-1]) from None
    check_data(task_id, form, data)
    return data


def tasks_view(inspector: Inspector, f: TaskFilters) -> list[dict[str, Any]]:
    rows = inbox(inspector, f.assignee, f.overdue, limit=200)
    return [{**row, "fields": form_fields(row["form"])} for row in rows]


def open_form(inspector: Inspector, task_id: str) -> Any:
    """The form of an open task (None: no such task open)."""
    row = task(inspector, task_id)
    return None if row is None or row["status"] != "open" else row["form"]
