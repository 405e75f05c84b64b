"""Driving one job: from a new request or a wake to the next park or finish."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import msgspec
import structlog

from executor.deployed import DeployedCache
from executor.interpreter import Finish, Park, advance, top_level_checkpoint
from shared import clock, metrics, names
from shared.errors import (
    EngineError,
    JobFinished,
    JobNotFound,
    OverLimit,
    StaleFence,
    UnreadableWorkflow,
    WorkflowNotDeployed,
)
from shared.failpoints import failpoint
from shared.messages import (
    Ack,
    Checkpoint,
    ChildWait,
    DeadLetter,
    FinishReply,
    FinishRequest,
    FiredEvent,
    HistoryEntry,
    ParkReply,
    ParkRequest,
    StartReply,
    StartRequest,
    Wait,
    WorkflowReply,
    WorkflowRequest,
)
from shared.reactor_client import ReactorClient
from shared.workflow import FailNode, Workflow, decode_workflow, encode_workflow, workflow_digest

__all__ = ["TAKEN_ELSEWHERE", "JobDriver", "WorkflowCache", "fail_start_over_limit"]

log = structlog.get_logger("ee.executor")
_json = msgspec.json.Encoder()

# A park or finish refused because the job is in other hands: another executor advanced it
# (its fence moved on), it was finished (cancelled, say) or it is gone. The caller drops it.
TAKEN_ELSEWHERE = (StaleFence, JobFinished, JobNotFound)


class WorkflowCache:
    """Decoded workflows by content digest; a miss asks the reactor for the stored copy.

    A workflow this build cannot read is remembered too (digests name content, which never
    changes): wakes of its jobs, passed from executor to executor during a rollout, do not
    fetch it again each time."""

    def __init__(self, client: ReactorClient, size: int = 1024) -> None:
        self.client = client
        self.size = size
        self._items: OrderedDict[str, Workflow] = OrderedDict()
        self._unreadable: OrderedDict[str, UnreadableWorkflow] = OrderedDict()
        # A submitted workflow's JSON (its BLAKE2b) -> its canonical encoding and digest.
        self._submitted: OrderedDict[bytes, tuple[bytes, str]] = OrderedDict()

    def submitted(self, raw: dict[str, Any]) -> tuple[Workflow, bytes, str]:
        """A job message's workflow: decoded and validated in full (raises UnreadableWorkflow or
        InvalidWorkflow), with its canonical encoding and digest. Decoding is a function of the
        workflow alone, so the jobs of one workflow (the same JSON, field for field) share one
        decoding: it was a seventh of the executor's time per activity in a throughput run."""
        key = hashlib.blake2b(_json.encode(raw), digest_size=16).digest()
        known = self._submitted.get(key)
        if known is not None and known[1] in self._items:
            self._submitted.move_to_end(key)
            self._items.move_to_end(known[1])
            return self._items[known[1]], known[0], known[1]
        workflow = decode_workflow(raw)
        encoded = encode_workflow(workflow)
        digest = workflow_digest(encoded)
        self.put(digest, workflow)
        self._submitted[key] = (encoded, digest)
        while len(self._submitted) > self.size:
            self._submitted.popitem(last=False)
        return workflow, encoded, digest

    def put(self, digest: str, workflow: Workflow) -> None:
        self._items[digest] = workflow
        self._items.move_to_end(digest)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    async def get(self, digest: str) -> Workflow:
        found = self._items.get(digest)
        if found is None:
            known = self._unreadable.get(digest)
            if known is not None:
                raise UnreadableWorkflow(known.node, known.field, known.detail)
            reply = await self.client.call("workflow", WorkflowRequest(digest=digest), WorkflowReply)
            try:
                # Stored when its job started, maybe by a version before the name rules: its jobs run on.
                found = decode_workflow(reply.workflow, check_names=False)
            except UnreadableWorkflow as exc:
                self._unreadable[digest] = exc
                while len(self._unreadable) > self.size:
                    self._unreadable.popitem(last=False)
                raise
            self.put(digest, found)
        return found


class JobDriver:
    def __init__(self, client: ReactorClient, build: str, workflows: WorkflowCache | None = None) -> None:
        self.client = client
        self.build = build
        self.workflows = workflows
        self.deployed = DeployedCache(client)

    async def drive(self, job_id: str, fence: int, workflow: Workflow, checkpoint: Checkpoint,
                    job_input: dict[str, Any], fired: Sequence[FiredEvent] = ()) -> bool:
        """Advance the job by its fired events (none: start it) and record the outcome. False when
        another executor had won it."""
        step: Park | Finish = advance(workflow, checkpoint, job_input, fired, self.build, job_id=job_id, fence=fence)
        if isinstance(step, Park) and any(isinstance(w, ChildWait) for w in step.waits):
            step = await self._resolve_calls(step)
        await failpoint("before-park")
        try:
            if isinstance(step, Park):
                with metrics.PARK_SECONDS.time():
                    reply = await self.client.call("park", ParkRequest(
                        job_id=job_id, fence=fence, checkpoint=step.checkpoint, waits=step.waits,
                        consumed=step.consumed, history=step.history, build=self.build,
                        release_bots=step.release_bots, drop=step.drop), ParkReply)
                expected = [names.event_id_for(job_id, fence + 1, i) for i in range(len(step.waits))]
                if reply.events and reply.events != expected:
                    # The checkpoint records the ids the interpreter derived; another rule would strand
                    # every branch's result (ignored as "not awaited").
                    log.error("park registered event ids other than the checkpoint records", job_id=job_id,
                              registered=reply.events[:5], recorded=expected[:5])
                await failpoint("park-replied")
            else:
                await self.client.call("finish", FinishRequest(
                    job_id=job_id, fence=fence, status=step.status,
                    output=step.output, error=step.error, consumed=step.consumed,
                    history=step.history, build=self.build, checkpoint=step.checkpoint), FinishReply)
                log.info("job finished", job_id=job_id, status=step.status)
        except TAKEN_ELSEWHERE as exc:
            log.info("job taken over elsewhere; dropping it", job_id=job_id, reason=str(exc))
            return False
        except OverLimit as exc:
            # Sent again it would be refused again: the job fails, once, saying why.
            op = "park" if isinstance(step, Park) else "finish"
            return await self.fail_over_limit(job_id, fence, op, checkpoint.node, exc, step.consumed,
                                              top_level_checkpoint(checkpoint))
        return True

    async def _resolve_calls(self, park: Park) -> Park | Finish:
        """Name and version of each child wait to the deployed workflow it runs (digest, version,
        start); a workflow not deployed fails the job, naming the node and the workflow."""
        waits: list[Wait] = []
        for wait in park.waits:
            if isinstance(wait, ChildWait):
                try:
                    found = await self.deployed.get(wait.name, wait.version)
                except WorkflowNotDeployed as exc:
                    error = f"node {wait.node!r}: {exc}"
                    history = [h for h in park.history if h.event != "parked"]
                    history.append(HistoryEntry(at=clock.iso(), node=wait.node, event="failed", build=self.build,
                                                detail=error))
                    return Finish("failed", None, error, history, top_level_checkpoint(park.checkpoint),
                                  park.consumed)
                if self.workflows is not None:
                    self.workflows.put(found.digest, found.workflow)
                wait = msgspec.structs.replace(wait, digest=found.digest, version=found.version,
                                               start=found.workflow.start)
            waits.append(wait)
        park.waits = waits
        return park

    async def fail_over_limit(self, job_id: str, fence: int, op: str, node: str, exc: OverLimit,
                              consumed: list[str], checkpoint: Checkpoint | None = None) -> bool:
        """Fail a job whose ``op`` request is over a bound (``job state of N bytes exceeds the
        limit of M``), with a dead letter saying so. ``checkpoint``: where ``ee retry`` resumes it
        (the top-level node it was at). False when another executor had it."""
        error = str(exc)
        history = [HistoryEntry(at=clock.iso(), node=node, event="failed", build=self.build, detail=error)]
        try:
            await self.client.call("finish", FinishRequest(
                job_id=job_id, fence=fence, status="failed", error=error, consumed=consumed,
                history=history, build=self.build, checkpoint=checkpoint), FinishReply)
        except TAKEN_ELSEWHERE as lost:
            # A second run of the same step (its wake offered again meanwhile) finds it failed already.
            log.info("job taken over elsewhere; dropping it", job_id=job_id, reason=str(lost))
            return False
        log.warning("job failed: its state is over a limit", job_id=job_id, op=op, error=error)
        metrics.DEADLETTERS.labels(subject=names.reactor_subject(op)).inc()
        try:
            await self.client.call("deadletter", DeadLetter(
                subject=names.reactor_subject(op), reason=f"job {job_id} failed: {error}",
                data=f"job {job_id} at node {node}"), Ack, patience=10)
        except EngineError as lost:
            log.warning("dead-letter record not stored", error=repr(lost))
        return True




async def fail_start_over_limit(driver: JobDriver, job_id: str, workflow: Workflow, exc: OverLimit) -> bool:
    """A job whose start request is over a bound (its workflow and input too large together):
    record it, failed with the reason, in place of running it.

    The job is created from a stand-in workflow of the same name and version, one ``fail``
    node that holds the reason, and no input; then finished failed at once. It is then in
    Redis like any failed job (``ee status`` shows why) and its submission is answered."""
    error = str(exc)
    stand_in = Workflow(name=workflow.name[:200], version=workflow.version, start="refused",
                        nodes={"refused": FailNode(error=error)})
    encoded = encode_workflow(stand_in)
    started = await driver.client.call("start", StartRequest(
        job_id=job_id, workflow=encoded, digest=workflow_digest(encoded), name=stand_in.name,
        version=stand_in.version, start=stand_in.start, build=driver.build), StartReply)
    if started.status != "running":
        return False  # created before (a redelivery): it runs or ran its own way
    return await driver.fail_over_limit(job_id, started.fence, "start", stand_in.start, exc, [])
