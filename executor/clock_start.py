"""When a submitted job starts and by when it must be done: ``JobRequest.not_before`` and
``deadline``, and the workflow's ``deadline_s`` and ``on_deadline`` (docs/operations.md).

A job with a start time goes to the reactor's ``defer`` (recorded pending, started by the
reactor then), whether that time is still ahead or not (a job message redelivered after its
start time takes the same path as its first delivery). A workflow's ``deadline_s`` counts from
the job's start: the submit, or its start time.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from shared import names
from shared.errors import InvalidMessage, JobFinished
from shared.instants import parse_instant
from shared.messages import Ack, DeadlineRequest, DeferReply, DeferRequest, JobRequest, OnDeadline
from shared.reactor_client import ReactorClient
from shared.workflow import Workflow

__all__ = ["StartPlan", "arm_deadline", "defer_start", "plan_start"]


@dataclass(frozen=True, slots=True)
class StartPlan:
    not_before: float | None
    deadline: float | None
    on_deadline: OnDeadline


def plan_start(request: JobRequest, workflow: Workflow, now: float) -> StartPlan:
    """The plan of a job; InvalidMessage for a time that is not one."""
    try:
        not_before = None if request.not_before is None else parse_instant(request.not_before)
        deadline = None if request.deadline is None else parse_instant(request.deadline)
    except ValueError as exc:
        raise InvalidMessage(names.JOBS_EXECUTE, str(exc)) from exc
    if deadline is None and workflow.deadline_s is not None:
        deadline = max(now, not_before or now) + workflow.deadline_s
    return StartPlan(not_before, deadline, workflow.on_deadline)


async def defer_start(client: ReactorClient, job_id: str, request: JobRequest, workflow: Workflow, encoded: bytes,
                      plan: StartPlan, build: str) -> DeferReply:
    """Hand a job with a start time to the reactor, which records it pending (idempotent)."""
    assert plan.not_before is not None
    return await client.call("defer", DeferRequest(
        job_id=job_id, workflow=encoded, name=workflow.name, version=workflow.version, start=workflow.start,
        not_before=plan.not_before, input=request.input, build=build, deadline=plan.deadline,
        on_deadline=plan.on_deadline, priority=request.priority), DeferReply)


async def arm_deadline(client: ReactorClient, job_id: str, plan: StartPlan) -> None:
    """Give a started job its deadline (the first one given stays); a job finished meanwhile needs none."""
    assert plan.deadline is not None
    with contextlib.suppress(JobFinished):
        await client.call("deadline", DeadlineRequest(job_id=job_id, deadline=plan.deadline,
                                                      on_deadline=plan.on_deadline), Ack)
