"""What only this build cannot read (a newer build may) versus what no build could accept."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from shared.errors import InvalidWorkflow, UnreadableWorkflow
from shared.workflow import decode_workflow

BASE: dict[str, Any] = {"name": "x", "start": "a", "nodes": {
    "a": {"kind": "activity", "activity": "demo.echo", "next": "b", "retry": {"max_attempts": 2}},
    "b": {"kind": "branch", "cases": [{"when": "`true`", "next": "e"}], "default": "e"},
    "e": {"kind": "end"}}}


def changed(change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    flow = copy.deepcopy(BASE)
    change(flow)
    return flow


@pytest.mark.parametrize(("change", "words"), [
    (lambda w: w["nodes"]["a"].update(kind="quantum"), "node 'a', field 'kind': unknown node kind 'quantum'"),
    (lambda w: w["nodes"]["a"].update(jitter=1), "node 'a', field 'jitter': unknown field 'jitter'"),
    (lambda w: w["nodes"]["a"]["retry"].update(jitter=1), "field 'retry.jitter'"),
    (lambda w: w["nodes"]["b"]["cases"][0].update(unless="x"), "field 'cases[0].unless'"),
    (lambda w: w.update(sla_s=3), "field 'sla_s': unknown field"),
])
def test_unknown_kinds_and_fields_are_unreadable_by_this_build(change: Callable[[dict[str, Any]], object],
                                                               words: str) -> None:
    with pytest.raises(UnreadableWorkflow, match="a newer build may know it") as caught:
        decode_workflow(changed(change))
    assert words in str(caught.value)


@pytest.mark.parametrize("change", [
    lambda w: w["nodes"]["a"].update(next="nowhere"),
    lambda w: w["nodes"]["a"].update(timeout_s="soon"),
    lambda w: w["nodes"]["a"].update(kind=3),
    lambda w: w["nodes"]["a"].pop("kind"),
    lambda w: w["nodes"]["a"].pop("activity"),
    lambda w: w["nodes"]["b"]["cases"][0].update(when="[oops"),
    lambda w: w.update(version="two"),
])
def test_what_no_build_could_accept_is_invalid_not_unreadable(change: Callable[[dict[str, Any]], object]) -> None:
    with pytest.raises(InvalidWorkflow) as caught:
        decode_workflow(changed(change))
    assert not isinstance(caught.value, UnreadableWorkflow), caught.value


def test_not_json_is_invalid() -> None:
    with pytest.raises(InvalidWorkflow) as caught:
        decode_workflow(b"{not json")
    assert not isinstance(caught.value, UnreadableWorkflow)
