"""A job's steps as its executors ask for them (ee.reactor.start, park, finish, redrive, workflow,
strand, intake, inspect, deadletter), in terms of the store and the dispatcher."""

from __future__ import annotations

import msgspec
import structlog

from reactor.dispatch import Dispatcher
from reactor.outcomes import Created
from reactor.store import Store
from shared import clock, metrics, names
from shared.errors import InvalidMessage, JobNotFound
from shared.failpoints import failpoint
from shared.flow import check_priority
from shared.messages import (
    Ack,
    ActivityTask,
    ActivityWait,
    CancelRequest,
    Checkpoint,
    DeadLetter,
    FinishReply,
    FinishRequest,
    IntakeReply,
    IntakeRequest,
    JobView,
    ParkReply,
    ParkRequest,
    RedriveReply,
    RedriveRequest,
    StartReply,
    StartRequest,
    StrandRequest,
    WorkflowReply,
    WorkflowRequest,
)
from shared.naming import check_name

__all__ = ["JobSteps"]

log = structlog.get_logger("ee.reactor.jobs")

_checkpoint = msgspec.json.Decoder(Checkpoint)
_any = msgspec.json.Decoder()
_json = msgspec.json.Encoder()


class JobSteps:
    """The endpoints an executor calls while it runs jobs (and inspect, which clients call)."""

    def __init__(self, store: Store, dispatcher: Dispatcher) -> None:
        self.store = store
        self.dispatcher = dispatcher

    async def start(self, req: StartRequest) -> StartReply:
        check_name("job", req.job_id)
        try:
            req.workflow.decode()
        except UnicodeDecodeError as exc:  # stored as text: refused here, not failed inside
            raise InvalidMessage("ee.reactor.start", "workflow is not UTF-8 text") from exc
        check_priority(names.reactor_subject("start"), req.priority)
        job = await self.store.start_job(req.job_id, req.digest, req.workflow, req.name, req.version,
                                         Checkpoint(node=req.start), _json.encode(req.input), req.build,
                                         req.priority)
        await failpoint("start-committed")
        created = isinstance(job, Created)
        if created:
            metrics.JOBS_STARTED.inc()
        return StartReply(
            job_id=req.job_id, status=job.status, fence=job.fence, created=created,
            checkpoint=_checkpoint.decode(job.checkpoint) if job.checkpoint else None,
            input=_any.decode(job.input) if job.input else {})

    async def park(self, req: ParkRequest) -> ParkReply:
        outcome = await self.store.park(req.job_id, req.fence, req.checkpoint, req.waits, req.consumed,
                                        req.history, req.build, req.release_bots, req.drop)
        events = outcome.events
        await failpoint("park-committed")
        fired_now = {f.event_id for w in outcome.wakes if w.job_id == req.job_id for f in w.fired}
        tasks = [
            ActivityTask(event_id=event_id, attempt=1, job_id=req.job_id, activity=wait.activity,
                         input=wait.input, timeout_s=wait.timeout_s, bot=wait.bot)
            for event_id, wait in zip(events, req.waits, strict=True)
            if isinstance(wait, ActivityWait) and event_id not in fired_now
            and event_id not in outcome.undispatched
        ]
        if outcome.wakes or outcome.dropped or outcome.left:
            await self.dispatcher.ended(outcome.dropped, outcome.wakes, outcome.left)
        # The dispatch set holds these until JetStream acknowledges them, so a crash
        # from here on is mended by the sweep at the next start.
        self.dispatcher.enqueue(tasks)
        return ParkReply(fence=outcome.fence, events=events)

    async def finish(self, req: FinishRequest) -> FinishReply:
        done = await self.store.finish(req.job_id, req.fence, req.status, _json.encode(req.output),
                                       req.error or "", req.history, req.build, req.checkpoint)
        await self.dispatcher.ended(done.dropped, done.wakes, done.left)
        metrics.JOBS_FINISHED.labels(status=req.status).inc()
        return FinishReply(fence=done.fence)

    async def redrive(self, req: RedriveRequest) -> RedriveReply:
        """Offer every fired event that no executor has consumed yet."""
        offered = 0
        cursor = "-inf"
        while True:
            page = await self.store.waking(cursor)
            if not page:
                break
            ready = await self.store.offer_again([job_id for job_id, _ in page], clock.now(), lapsed=False)
            await self.dispatcher.wakes(ready)
            offered += len(ready)
            if len(page) < 500:
                break
            cursor = f"({page[-1][1]!r}"
        return RedriveReply(offered=offered)

    async def workflow(self, req: WorkflowRequest) -> WorkflowReply:
        data = await self.store.workflow(req.digest)
        if data is None:
            raise InvalidMessage("ee.reactor.workflow", f"unknown workflow digest {req.digest!r}")
        return WorkflowReply(workflow=data)

    async def strand(self, req: StrandRequest) -> Ack:
        await self.store.strand(req.job_id, req.reason[:500], req.build)
        log.warning("job stranded by an executor", job_id=req.job_id, reason=req.reason[:500], build=req.build)
        return Ack()

    async def intake(self, req: IntakeRequest) -> IntakeReply:
        check_name("job", req.job_id)
        recorded, status = await self.store.intake(req.job_id, req.verdict, req.reason[:1000], req.build,
                                                   req.name, req.version)
        if recorded and req.verdict == "refused":
            metrics.JOBS_FINISHED.labels(status="failed").inc()
        return IntakeReply(recorded=recorded, status=status)

    async def inspect(self, req: CancelRequest) -> JobView:
        check_name("job", req.job_id)
        found = await self.store.job_outcome(req.job_id)
        if found is None:
            raise JobNotFound(req.job_id)
        status, output, error = found
        return JobView(job_id=req.job_id, status=status, output=_any.decode(output) if output else None,
                       error=error or None)

    async def deadletter(self, req: DeadLetter) -> Ack:
        await self.store.deadletter(req.subject, req.reason, req.data.encode())
        return Ack()
