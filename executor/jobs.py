"""Driving one job: from a new request or a wake to the next park or finish."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import structlog

from executor.interpreter import Finish, Park, advance
from shared import metrics
from shared.errors import UnreadableWorkflow
from shared.failpoints import failpoint
from shared.messages import (
    Checkpoint,
    EventResult,
    FinishReply,
    FinishRequest,
    ParkReply,
    ParkRequest,
    WorkflowReply,
    WorkflowRequest,
)
from shared.reactor_client import ReactorClient, ReactorError
from shared.workflow import Workflow, decode_workflow

__all__ = ["JobDriver", "WorkflowCache"]

log = structlog.get_logger("ee.executor")


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
    def __init__(self, client: ReactorClient, build: str) -> None:
        self.client = client
        self.build = build

    async def drive(self, job_id: str, fence: int, workflow: Workflow, checkpoint: Checkpoint,
                    job_input: dict[str, Any], result: EventResult | None = None,
                    consumed: list[str] | None = None) -> bool:
        """Advance the job and record the outcome. False when another executor had won it."""
        step = advance(workflow, checkpoint, job_input, result, self.build)
        await failpoint("before-park")
        try:
            if isinstance(step, Park):
                with metrics.PARK_SECONDS.time():
                    await self.client.call("park", ParkRequest(
                        job_id=job_id, fence=fence, checkpoint=step.checkpoint, waits=step.waits,
                        consumed=consumed or [], history=step.history, build=self.build,
                        release_bots=step.release_bots), ParkReply)
                await failpoint("park-replied")
            else:
                assert isinstance(step, Finish)
                await self.client.call("finish", FinishRequest(
                    job_id=job_id, fence=fence, status=step.status,  # type: ignore[arg-type]
                    output=step.output, error=step.error, consumed=consumed or [],
                    history=step.history, build=self.build), FinishReply)
                log.info("job finished", job_id=job_id, status=step.status)
        except ReactorError as exc:
            if exc.lost_race or exc.not_found:
                log.info("job taken over elsewhere; dropping it", job_id=job_id, reason=str(exc))
                return False
            raise
        return True


