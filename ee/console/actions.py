"""The console's actions, each one request to a reactor endpoint through ``ee``'s own client
(``ee.client.EngineClient``): fenced and recorded in the job's history by the reactor.

Who acted goes with each request: ``by`` where the endpoint takes it (``retry``), else in the
text the endpoint records (the reason of a cancel, the error of a failed wait); resolve and
extend carry it in ``EventOp.by``."""

from __future__ import annotations

from typing import Any

from ee.client import EngineClient
from shared.config import Settings
from shared.messages import EventOp, TaskOp

__all__ = ["cancel_job", "claim_task", "complete_task", "extend_wait", "fail_wait", "reassign_task", "resolve_wait",
           "retry_job"]


def _by(by: str) -> str:
    return f"by {by} (console)"


async def resolve_wait(settings: Settings, event_id: str, data: Any, by: str) -> str:
    async with EngineClient(settings) as client:
        reply = await client.event_op(EventOp(event_id=event_id, op="resolve", data=data, by=_by(by)[3:]))
    return f"wait {reply.event_id} {reply.status}"


async def fail_wait(settings: Settings, event_id: str, error: str, by: str) -> str:
    async with EngineClient(settings) as client:
        reply = await client.event_op(EventOp(event_id=event_id, op="fail", error=f"{error} (failed {_by(by)})"))
    return f"wait {reply.event_id} {reply.status}"


async def extend_wait(settings: Settings, event_id: str, timeout_s: float, by: str) -> str:
    async with EngineClient(settings) as client:
        reply = await client.event_op(EventOp(event_id=event_id, op="extend", timeout_s=timeout_s, by=_by(by)[3:]))
    return f"wait {reply.event_id} {reply.status}: timeout {timeout_s:g} s from now"


async def cancel_job(settings: Settings, job_id: str, reason: str | None, by: str) -> str:
    async with EngineClient(settings) as client:
        reply = await client.cancel(job_id, f"cancelled {_by(by)}" + (f": {reason}" if reason else ""))
    return f"job {reply.job_id} {reply.status}"


async def retry_job(settings: Settings, job_id: str, by: str) -> str:
    """From the node it failed at (``ee retry JOB --by NAME``)."""
    async with EngineClient(settings) as client:
        reply = await client.retry(job_id, "", by)
    return f"job {reply.job_id} retried from node {reply.node} (retry {reply.retries})"


async def complete_task(settings: Settings, task_id: str, data: Any, by: str) -> str:
    """``ee task complete TASK --data JSON --by NAME``: the reactor checks the data against the
    form again and records who."""
    async with EngineClient(settings) as client:
        reply = await client.task_op(TaskOp(task_id=task_id, op="complete", by=by, data=data))
    return f"task {reply.task_id} completed by {reply.by}"


async def claim_task(settings: Settings, task_id: str, by: str) -> str:
    """``ee task claim TASK --by NAME``: the task is NAME's to complete (the reactor's rule)."""
    async with EngineClient(settings) as client:
        reply = await client.task_op(TaskOp(task_id=task_id, op="claim", by=by))
    return f"task {reply.task_id} claimed by {reply.by}"


async def reassign_task(settings: Settings, task_id: str, to: str, by: str) -> str:
    """``ee task reassign TASK --to ASSIGNEE --by NAME``: open again, in another assignee's inbox."""
    async with EngineClient(settings) as client:
        reply = await client.task_op(TaskOp(task_id=task_id, op="reassign", by=by, to=to))
    return f"task {reply.task_id} reassigned to {reply.assignee} by {reply.by}"
