"""The reactor's clock for jobs: delayed starts and deadlines (docs/operations.md).

Delayed start: an executor hands a job with a start time to ``defer`` (instead of ``start``);
the job is recorded ``pending`` with ``not_before``, its workflow and its start checkpoint, and
put on the clock ``ee:deferred``. At that time the deferred loop starts it the way ``start``
does (``defer_start.lua``: running, under a wake lease) and offers its wake; an executor runs
it from its start node. The record is durable from the ``defer`` reply on, so a reactor that
was down at the start time starts it when it is back. Schedule fires (reactor.schedules) start
their jobs the same way, due at once.

Deadline: a job given one (``deadline``, at its start, or in its ``defer``) is on the clock
``ee:deadlines``; when it is due and the job has not finished, the job is flagged ``overdue``
(field, ``ee:overdue``, history); with ``on_deadline`` "fail" the reactor then finishes it
failed with "deadline passed" through the same step as a cancel (its waits dropped, running
activities told to stop, bots released).
"""

from __future__ import annotations

import msgspec
import structlog

from reactor.catch_up import StartGate
from reactor.clock_store import ClockStore
from reactor.contracts import DeferredJob
from reactor.dispatch import Dispatcher
from reactor.endpoints import Endpoint
from reactor.periodic import every
from reactor.store import Store
from shared import clock, metrics, names
from shared.bounds import bounded_text
from shared.errors import InvalidMessage, InvalidWorkflow, JobFinished, JobNotFound
from shared.flow import check_priority
from shared.messages import Ack, Checkpoint, DeadlineRequest, DeferReply, DeferRequest, HistoryEntry, encode
from shared.naming import check_name
from shared.workflow import decode_workflow, encode_workflow, workflow_digest

__all__ = ["DEADLINE_PASSED", "JobClock", "deferred_job"]

log = structlog.get_logger("ee.reactor.clock")
_json = msgspec.json.Encoder()

DEADLINE_PASSED = "deadline passed"
# A job to fail at its deadline stays on the clock this long after each try: a reactor that
# dies between flagging it and failing it fails it after its restart.
_FAIL_RETRY_S = 5.0
_BATCH = 500


def deferred_job(workflow_json: bytes, input: dict[str, object], not_before: float, now: float, *, build: str,
                 detail: str, deadline: float | None, on_deadline: str | None, schedule: str = "",
                 fire_time: str = "", priority: int = 5) -> DeferredJob:
    """The pending record of a job (its workflow validated here: the reactor stores what it runs).
    ``on_deadline`` None: the workflow's, with its ``deadline_s`` from ``not_before`` when no
    ``deadline`` is given (a schedule's fire)."""
    try:
        workflow = decode_workflow(workflow_json)
    except InvalidWorkflow as exc:
        raise InvalidMessage(names.reactor_subject("defer"), bounded_text(str(exc))) from exc
    if on_deadline is None:
        on_deadline = workflow.on_deadline
        if deadline is None and workflow.deadline_s is not None:
            deadline = not_before + workflow.deadline_s
    encoded = encode_workflow(workflow)
    return DeferredJob(
        digest=workflow_digest(encoded), workflow=encoded.decode(), name=workflow.name, version=workflow.version,
        checkpoint=encode(Checkpoint(node=workflow.start)).decode(), input=_json.encode(input).decode(),
        not_before=repr(not_before), now=repr(now), at=clock.iso(now), build=build, detail=detail,
        deadline="" if deadline is None else repr(deadline), on_deadline=on_deadline, schedule=schedule,
        fire_time=fire_time, priority=priority)


class JobClock:
    def __init__(self, store: Store, dispatcher: Dispatcher) -> None:
        self.store = store
        self.clock: ClockStore = store.clock()
        self.dispatcher = dispatcher

    def endpoints(self) -> list[Endpoint]:
        return [Endpoint("defer", DeferRequest, self.defer), Endpoint("deadline", DeadlineRequest, self.deadline)]

    # -- endpoints ---------------------------------------------------------------------

    async def defer(self, req: DeferRequest) -> DeferReply:
        check_name("job", req.job_id)
        check_priority(names.reactor_subject("defer"), req.priority)
        now = clock.now()
        d = deferred_job(req.workflow, req.input, _moment(req.not_before, "not_before"), now, build=req.build[:200],
                         detail=f"starts at {clock.iso(_moment(req.not_before, 'not_before'))}",
                         deadline=None if req.deadline is None else _moment(req.deadline, "deadline"),
                         on_deadline=req.on_deadline, priority=req.priority)
        created, status = await self.clock.defer(req.job_id, d)
        return DeferReply(job_id=req.job_id, status=status, created=created)

    async def deadline(self, req: DeadlineRequest) -> Ack:
        check_name("job", req.job_id)
        await self.clock.arm_deadline(req.job_id, _moment(req.deadline, "deadline"), req.on_deadline)
        return Ack()

    # -- loops --------------------------------------------------------------------------

    async def deferred_loop(self, gate: StartGate | None = None, interval: float = 0.1) -> None:
        """Start the pending jobs whose start time came."""

        async def one_pass() -> bool:
            now = clock.now()
            due = await self.store.due(self.store.keys.deferred, now, _BATCH)
            if not due:
                return False
            await self.dispatcher.wakes(await self.clock.start_due(due, now))
            return len(due) >= _BATCH

        await every(interval, one_pass, log=log, failed="deferred-start pass failed", backoff_s=0.5, gate=gate)

    async def deadline_loop(self, gate: StartGate | None = None, interval: float = 0.25,
                            gauge_every_s: float = 5.0) -> None:
        """Flag the jobs past their deadline (and fail those that ask for it); keep the gauge."""
        counted = 0.0

        async def one_pass() -> None:
            nonlocal counted
            now = clock.now()
            due = await self.store.due(self.store.keys.deadlines, now, _BATCH)
            for job_id, out in await self.clock.deadlines_due(due, now, _FAIL_RETRY_S):
                if out.first:
                    log.info("job overdue", job_id=job_id, on_deadline=out.on_deadline)
                if out.on_deadline == "fail":
                    await self._fail(job_id)
            if now - counted >= gauge_every_s:
                metrics.JOBS_OVERDUE.set(await self.clock.overdue_unfinished())
                counted = now

        await every(interval, one_pass, log=log, failed="deadline pass failed", backoff_s=0.5, gate=gate)

    async def _fail(self, job_id: str) -> None:
        """Finish the job failed, as a cancel does (no fence: whoever holds it is refused next)."""
        history = [HistoryEntry(at=clock.iso(), node="", event="failed", detail=DEADLINE_PASSED)]
        try:
            done = await self.store.finish(job_id, None, "failed", b"null", DEADLINE_PASSED, history, "")
        except (JobFinished, JobNotFound):
            return
        metrics.JOBS_FINISHED.labels(status="failed").inc()
        log.info("job failed at its deadline", job_id=job_id, activities_stopped=len(done.dropped))
        await self.dispatcher.ended(done.dropped, done.wakes, done.left)


def _moment(value: float, field: str) -> float:
    if not 0 <= value <= 1e10:  # NaN fails both
        raise InvalidMessage(names.reactor_subject("defer"), f"{field} must be Unix seconds from 0 to 1e10")
    return float(value)
