"""A job an executor cannot start: left for an executor that can read it, or refused.

Two cases, told apart by :func:`shared.workflow.decode_workflow`:

- :class:`~shared.errors.UnreadableWorkflow` (a node kind or field this build does not know,
  say from a newer build during a rollout): the job is recorded in Redis as ``pending``,
  waiting for a capable executor, with the reason, and its message goes back to JetStream
  with a delay (``nak``), so that another executor, or this one's successor, takes it. The
  jobs consumer redelivers without limit (a bounded delay between deliveries, never a drop).
- any other :class:`~shared.errors.InvalidWorkflow` (no build could accept it): the job is
  recorded ``failed`` with the reason in ``refused``, dead-lettered as before, and its message
  terminated, once the record is stored (until then it is redelivered).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import structlog
from nats.aio.msg import Msg

from shared import metrics, names
from shared.errors import EngineError, InvalidWorkflow, UnreadableWorkflow
from shared.messages import IntakeReply, IntakeRequest, JobRequest
from shared.reactor_client import ReactorClient

__all__ = ["Intake", "redelivery_delay"]

log = structlog.get_logger("ee.executor")

# Seconds before the first redelivery of a job this build cannot read; doubled per delivery
# up to the configured cap (EE_JOBS_REDELIVERY_MAX_S), so a capable executor that starts
# takes the job within about the cap.
FIRST_DELAY_S = 0.25
# A job's "waiting" record is written again at most this often by one executor: it is
# redelivered every few seconds, and each record is a Redis step. Rewriting it now and then
# notices a job cancelled meanwhile (its message is then acked).
RECORD_AGAIN_S = 30.0
_REMEMBERED = 10_000


def redelivery_delay(deliveries: int, cap_s: float) -> float:
    """Delay before the next delivery of a job delivered ``deliveries`` times (1-based)."""
    return min(FIRST_DELAY_S * 2.0 ** min(max(deliveries - 1, 0), 30), cap_s)


def _name_version(workflow: dict[str, Any]) -> tuple[str, int]:
    name, version = workflow.get("name"), workflow.get("version")
    return (name if isinstance(name, str) else "",
            version if isinstance(version, int) and not isinstance(version, bool) else 0)


class Intake:
    def __init__(self, client: ReactorClient, build: str, redelivery_max_s: float,
                 deadletter: Callable[[str, str, bytes], Awaitable[None]]) -> None:
        self.client = client
        self.build = build
        self.redelivery_max_s = redelivery_max_s
        self.deadletter = deadletter
        self._recorded: OrderedDict[str, tuple[str, float]] = OrderedDict()

    async def leave(self, msg: Msg, job_id: str, request: JobRequest, exc: UnreadableWorkflow) -> None:
        """Record the job as waiting for a capable executor, and give its message back."""
        reason = f"executor build {self.build} cannot read it: {exc}"
        metrics.JOBS_LEFT.inc()
        if self._due(job_id, reason):
            try:
                reply = await self._record(job_id, "waiting", reason, request)
            except EngineError as error:
                log.warning("waiting job not recorded; it is given back all the same", job_id=job_id,
                            error=repr(error))
            else:
                if not reply.recorded:
                    # Started (or finished, or cancelled) by now: Redis holds it, not this message.
                    log.info("job left for a capable executor is taken care of", job_id=job_id,
                             status=reply.status)
                    self._recorded.pop(job_id, None)
                    await msg.ack()
                    return
                self._remember(job_id, reason)
                log.info("job left for a capable executor", job_id=job_id, reason=reason)
        await msg.nak(delay=redelivery_delay(msg.metadata.num_delivered, self.redelivery_max_s))

    async def refuse(self, msg: Msg, job_id: str, request: JobRequest, exc: InvalidWorkflow) -> None:
        """Record the job failed with the reason (``ee status`` shows it), dead-letter it, drop it."""
        reason = str(exc)
        try:
            await self._record(job_id, "refused", reason, request)
        except EngineError as error:
            log.warning("refused job not recorded yet; will be redelivered", job_id=job_id, error=repr(error))
            await msg.nak(delay=1.0)
            return
        self._recorded.pop(job_id, None)
        await self.deadletter(names.JOBS_EXECUTE, reason, msg.data)
        await msg.term()

    async def _record(self, job_id: str, verdict: Literal["waiting", "refused"], reason: str,
                      request: JobRequest) -> IntakeReply:
        name, version = _name_version(request.workflow)
        return await self.client.call("intake", IntakeRequest(
            job_id=job_id, verdict=verdict, reason=reason, build=self.build,
            name=name, version=version), IntakeReply, patience=10)

    def _due(self, job_id: str, reason: str) -> bool:
        seen = self._recorded.get(job_id)
        return seen is None or seen[0] != reason or time.monotonic() - seen[1] > RECORD_AGAIN_S

    def _remember(self, job_id: str, reason: str) -> None:
        self._recorded[job_id] = (reason, time.monotonic())
        self._recorded.move_to_end(job_id)
        while len(self._recorded) > _REMEMBERED:
            self._recorded.popitem(last=False)
