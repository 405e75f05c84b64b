"""executor.jobs.WorkflowCache.submitted: a job message's workflow is decoded and validated in
full once per distinct workflow; the jobs of one workflow share that decoding, and a workflow
that does not validate is refused every time."""

from __future__ import annotations

from typing import Any, cast

import pytest

from executor.jobs import WorkflowCache
from shared.errors import InvalidWorkflow
from shared.reactor_client import ReactorClient
from shared.workflow import decode_workflow, encode_workflow, workflow_digest

ECHO: dict[str, Any] = {"name": "echo", "start": "a", "nodes": {
    "a": {"kind": "activity", "activity": "demo.echo", "input": {"v": "input.v"}, "output": "r", "next": "done"},
    "done": {"kind": "end", "output": "vars.r"}}}


def cache(size: int = 1024) -> WorkflowCache:
    return WorkflowCache(cast(ReactorClient, object()), size=size)  # no reactor asked: nothing is fetched


def test_one_decoding_per_workflow_with_its_encoding_and_digest() -> None:
    workflows = cache()
    first, encoded, digest = workflows.submitted(ECHO)
    again = workflows.submitted({**ECHO})  # another job of the same workflow
    assert again[0] is first and again[1:] == (encoded, digest)
    assert encoded == encode_workflow(decode_workflow(ECHO)) and digest == workflow_digest(encoded)
    other = workflows.submitted({**ECHO, "name": "echo2"})
    assert other[0] is not first and other[2] != digest


def test_an_invalid_workflow_is_refused_every_time_and_eviction_decodes_again() -> None:
    workflows = cache(size=1)
    broken = {**ECHO, "start": "nowhere"}
    for _ in range(2):
        with pytest.raises(InvalidWorkflow):
            workflows.submitted(broken)
    first = workflows.submitted(ECHO)[0]
    workflows.submitted({**ECHO, "name": "evicts"})
    assert workflows.submitted(ECHO)[0] is not first  # evicted: decoded again, as good
