"""The human_task node checked at submit (decode_workflow), and the form checks of
shared.human_tasks that completion and the console share."""

from __future__ import annotations

from typing import Any

import pytest

from shared.errors import FormRefused, InvalidWorkflow
from shared.human_tasks import MAX_FORM_BYTES, check_data, form_fields
from shared.workflow import HumanTaskNode, decode_workflow

FORM = {"type": "object", "required": ["amount"], "properties": {
    "amount": {"type": "number", "minimum": 0}, "ok": {"type": "boolean"}, "tier": {"enum": [1, 2]},
    "who": {"type": "string", "title": "Approver"}, "lines": {"type": "array"}}}


def flow(**task: Any) -> dict[str, Any]:
    node = {"kind": "human_task", "title": "Approve", "assignee": "group:finance", "form": FORM, "next": "e", **task}
    return {"name": "t", "start": "a", "nodes": {"a": node, "e": {"kind": "end"}}}


def test_a_valid_node_decodes() -> None:
    node = decode_workflow(flow(details="input.x", due_s=60, escalate_to="boss", output="o")).nodes["a"]
    assert isinstance(node, HumanTaskNode) and node.form == FORM and node.escalate_to == "boss"


@pytest.mark.parametrize(("fields", "message"), [
    ({"form": {"type": "objekt"}}, "node 'a', field 'form': not a valid JSON Schema at type: 'objekt' is not valid"),
    ({"form": {"minimum": "zero"}}, "node 'a', field 'form': not a valid JSON Schema at minimum: 'zero' is not of "
                                    "type 'number'"),
    ({"form": {"description": "x" * MAX_FORM_BYTES}}, f"bytes: at most {MAX_FORM_BYTES}"),
    ({"form": []}, "node 'a', field 'form': Expected `object`, got `array`"),
    ({"assignee": "finance team"}, "node 'a', field 'assignee': 'finance team' is not a user or group"),
    ({"escalate_to": "boss"}, "node 'a', field 'escalate_to': needs due_s (when to escalate)"),
    ({"due_s": 0}, "node 'a', field 'due_s': must be a positive number, got 0"),
    ({"details": "input.["}, "node 'a', field 'details': bad expression"),
    ({"title": ""}, "node 'a', field 'title': must be 1 to 200 characters"),
])
def test_a_bad_node_is_refused_naming_the_field(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidWorkflow) as caught:
        decode_workflow(flow(**fields))
    assert message in str(caught.value), str(caught.value)


@pytest.mark.parametrize(("data", "field", "reason"), [
    ({"amount": -5}, "amount", "-5 is less than the minimum of 0"),
    ({}, "amount", "is required"),
    ({"amount": "5"}, "amount", "'5' is not of type 'number'"),
    ({"amount": 1, "tier": 3}, "tier", "3 is not one of [1, 2]"),
    ({"amount": 1, "ok": "yes"}, "ok", "'yes' is not of type 'boolean'"),
    ("text", "", "'text' is not of type 'object'"),
])
def test_data_that_does_not_fit_names_the_field(data: Any, field: str, reason: str) -> None:
    with pytest.raises(FormRefused) as caught:
        check_data("j~1.0", FORM, data)
    assert (caught.value.field, caught.value.reason) == (field, reason)
    assert str(caught.value) == (f"field {field!r}: {reason}" if field else f"the data: {reason}")


def test_fitting_data_passes_and_the_fields_are_drawn() -> None:
    check_data("j~1.0", FORM, {"amount": 0, "ok": True, "tier": 2, "who": "a", "lines": []})
    drawn = {f["name"]: (f["type"], f["required"], f["label"]) for f in form_fields(FORM)}
    assert drawn == {"amount": ("number", True, "amount"), "ok": ("boolean", False, "ok"),
                     "tier": ("enum", False, "tier"), "who": ("string", False, "Approver"),
                     "lines": ("json", False, "lines")}
