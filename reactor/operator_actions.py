"""An operator's hand on jobs and waits: cancel (ee.reactor.cancel and jobs.cancel), resolve,
fail or extend a wait (ee.reactor.event), purge finished jobs (ee.reactor.purge)."""

from __future__ import annotations

import msgspec
import structlog

from reactor.dispatch import Dispatcher
from reactor.retention import purge_finished
from reactor.store import Store
from shared import clock, metrics
from shared.bounds import bounded_text
from shared.errors import InvalidMessage
from shared.messages import (
    CancelReply,
    CancelRequest,
    EventOp,
    EventOpReply,
    HistoryEntry,
    PurgeReply,
    PurgeRequest,
)
from shared.names import event_job
from shared.naming import check_name

__all__ = ["OperatorActions"]

log = structlog.get_logger("ee.reactor.operator")

_json = msgspec.json.Encoder()


class OperatorActions:
    """The operator's endpoints (under deploy/nats/auth.conf only the operator user may call them)."""

    def __init__(self, store: Store, dispatcher: Dispatcher) -> None:
        self.store = store
        self.dispatcher = dispatcher

    async def cancel(self, req: CancelRequest) -> CancelReply:
        check_name("job", req.job_id)
        history = [HistoryEntry(at=clock.iso(), node="", event="cancelled", detail=req.reason)]
        done = await self.store.finish(req.job_id, None, "cancelled", b"null", req.reason, history, "")
        metrics.JOBS_FINISHED.labels(status="cancelled").inc()
        log.info("job cancelled", job_id=req.job_id, reason=req.reason, activities_stopped=len(done.dropped))
        await self.dispatcher.ended(done.dropped, done.wakes, done.left)
        return CancelReply(job_id=req.job_id, status="cancelled")

    async def event(self, req: EventOp) -> EventOpReply:
        check_name("event", req.event_id)
        if req.op == "extend" and (req.timeout_s is None or req.timeout_s <= 0):
            raise InvalidMessage("ee.reactor.event", "extend needs a positive timeout_s")
        if req.op == "resolve":
            result = _json.encode({"ok": True, "output": req.data})
        else:
            result = _json.encode({"ok": False, "error": req.error or "failed by operator", "error_type": "operator"})
        wake = await self.store.operator_event(req.event_id, req.op, result, req.timeout_s, bounded_text(req.by, 100))
        status = "fired" if wake is not None else "extended"
        # An operator's hand on a wait: always worth a line (refusals are logged by the endpoint).
        log.info("operator event action", op=req.op, event_id=req.event_id, job_id=event_job(req.event_id),
                 status=status, **({"timeout_s": req.timeout_s} if req.op == "extend" else {}),
                 **({"error": req.error} if req.op == "fail" and req.error else {}))
        if wake is not None:
            await self.dispatcher.wakes([wake])
        return EventOpReply(event_id=req.event_id, status=status)

    async def purge(self, req: PurgeRequest) -> PurgeReply:
        """``ee purge``: finished jobs removed by hand, in bounded batches (reactor.retention)."""
        statuses = tuple(dict.fromkeys(req.statuses))
        tally = await purge_finished(self.store, req.older_than_s, statuses, batch=req.batch,
                                     max_batches=req.max_batches, dry_run=req.dry_run, pause_s=0.001)
        if not req.dry_run:
            log.info("finished jobs purged by an operator", count=tally.total, older_than_s=req.older_than_s,
                     statuses=list(statuses), more=tally.more)
        return PurgeReply(removed=tally.removed, more=tally.more, dry_run=req.dry_run)
