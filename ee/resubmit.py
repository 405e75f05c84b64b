"""A job id submitted again: the same workflow and input start nothing new (idempotent); a
different one is refused at once, naming the job that holds the id.

Without this check the engine would ignore the second submission without a word (the
jobs stream drops a repeated ``Nats-Msg-Id`` within its window, the executor a job id it
already knows), and the submitter would wait for a result of the first job's input.

The comparison uses what the engine keeps of the first submission: the job record's
workflow digest and input (``ee:job:{id}``), or, for a job no executor has taken yet, its
message in the jobs stream.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import msgspec

from shared.errors import EngineError, JobIdInUse
from shared.messages import JobRequest
from shared.workflow import decode_workflow, encode_workflow, workflow_digest

__all__ = ["Submitted", "check_resubmission", "from_record", "from_stream"]

_request = msgspec.json.Decoder(JobRequest)


@dataclass(frozen=True)
class Submitted:
    """What the engine holds of a job id's first submission."""

    status: str
    digest: str  # of the workflow as the executor encodes it; "" when not known
    input: Any
    name: str = ""


def digest_of(workflow: dict[str, Any]) -> str:
    """The digest the executor records for this workflow (``executor/app.py``), "" if it cannot
    read it (then only the input is compared)."""
    try:
        return workflow_digest(encode_workflow(decode_workflow(workflow)))
    except EngineError:
        return ""


def from_record(record: dict[str, Any]) -> Submitted:
    """From a job record as ``Inspector.job`` reads it."""
    name = f"{record.get('name') or ''} v{record['version']}" if record.get("version") else record.get("name") or ""
    return Submitted(status=str(record.get("status") or ""), digest=str(record.get("digest") or ""),
                     input=record.get("input") if record.get("input") is not None else {}, name=name)


def from_stream(data: bytes) -> Submitted | None:
    """From a job message waiting in the jobs stream (None if it does not decode)."""
    try:
        request = _request.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    name = request.workflow.get("name") if isinstance(request.workflow.get("name"), str) else ""
    return Submitted(status="pending", digest=digest_of(request.workflow), input=request.input, name=name or "")


def check_resubmission(job_id: str, workflow: dict[str, Any], job_input: dict[str, Any],
                       first: Submitted) -> None:
    """Nothing if this submission is the same as ``first``; JobIdInUse naming what differs."""
    differs = []
    ours = digest_of(workflow)
    if first.digest and ours and ours != first.digest:
        differs.append("workflow")
    if _canonical(job_input) != _canonical(first.input):
        differs.append("input")
    if differs:
        raise JobIdInUse(job_id, first.status, first.name, " and ".join(differs))


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
