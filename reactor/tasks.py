"""Human tasks (``ee task claim|complete|reassign``, the console's Tasks page): the ``task``
endpoint.

A task is its event (kind ``task``, id = event id). Each step is one fenced script
(``reactor/lua/task_*.lua``, built by ``reactor.contracts``); the data of a completion is
checked here against the task's form (``shared.human_tasks.check_data``, the same check the
console runs) before the script records it and fires the wait with the data as output.

Claims: a claimed task is completed only by its claimer (anyone else is refused, naming the
claim); a reassignment releases the claim. The same completion sent again (same person, same data:
a request retried after its reply was lost) is answered as done; any other is refused, naming
the first. An unclaimed task is completed by anyone who may
call the endpoint (the NATS permissions say who: deploy/nats/auth.conf).
"""

from __future__ import annotations

from typing import Any

import msgspec
import structlog

from reactor import contracts
from reactor.dispatch import Dispatcher
from reactor.outcomes import Claimed, Completed, Fired, NotParked, NotTask, Unknown
from reactor.store import Store
from shared import clock, names
from shared.bounds import bounded_text
from shared.errors import (
    InvalidMessage,
    NotATask,
    TaskClaimed,
    TaskClosed,
    TaskCompleted,
    TaskNotFound,
)
from shared.human_tasks import check_assignee, check_data
from shared.messages import TaskOp, TaskOpReply
from shared.naming import check_name

__all__ = ["Tasks"]

log = structlog.get_logger("ee.reactor.tasks")
_json = msgspec.json.Encoder()
_any = msgspec.json.Decoder()
_SUBJECT = names.reactor_subject("task")


def _check_by(by: str) -> str:
    if not by or len(by) > 120 or any(ord(c) < 32 or ord(c) == 127 for c in by):
        raise InvalidMessage(_SUBJECT, "by: who acts, 1 to 120 characters without control characters")
    return by


def _refusal(task_id: str, out: Any) -> None:
    match out:
        case Unknown():
            raise TaskNotFound(task_id)
        case NotTask():
            raise NotATask(task_id, out.kind or "unknown")
        case Completed():
            raise TaskCompleted(task_id, out.by, out.at)
        case Claimed():
            raise TaskClaimed(task_id, out.by, out.at)
        case NotParked():
            raise TaskClosed(task_id, out.status)


class Tasks:
    def __init__(self, store: Store, dispatcher: Dispatcher) -> None:
        self.store = store
        self.dispatcher = dispatcher

    async def task(self, req: TaskOp) -> TaskOpReply:
        check_name("event", req.task_id)
        by = _check_by(req.by)
        keys, at = self.store.keys, clock.iso()
        match req.op:
            case "claim":
                out = await self.store.task_step(contracts.task_claim(keys, task_id=req.task_id, by=by, at=at))
                _refusal(req.task_id, out)
                log.info("task claimed", task_id=req.task_id, by=by)
                return TaskOpReply(task_id=req.task_id, status="claimed", by=by, at=at)
            case "reassign":
                problem = check_assignee(req.to)
                if problem is not None:
                    raise InvalidMessage(_SUBJECT, f"to: {problem}")
                out = await self.store.task_step(contracts.task_reassign(
                    keys, task_id=req.task_id, to=req.to, by=by, now=repr(clock.now()), at=at))
                _refusal(req.task_id, out)
                log.info("task reassigned", task_id=req.task_id, to=req.to, by=by)
                return TaskOpReply(task_id=req.task_id, status="reassigned", assignee=req.to, by=by, at=at)
            case "complete":
                return await self._complete(req.task_id, by, req.data, at)
        raise InvalidMessage(_SUBJECT, f"unknown op {bounded_text(repr(req.op), 40)}")

    async def _complete(self, task_id: str, by: str, data: Any, at: str) -> TaskOpReply:
        kind, status, form = await self.store.event_fields(task_id, "kind", "status", "form")
        if kind == "task" and status == "parked" and form:
            check_data(task_id, _any.decode(form), data)  # FormRefused, naming the field
        out = await self.store.task_step(contracts.task_complete(
            self.store.keys, task_id=task_id, by=by, data=_json.encode(data),
            result=_json.encode({"ok": True, "output": data}), at=at, lease_at=self.store.lease_at(clock.now())))
        _refusal(task_id, out)
        if isinstance(out, Fired):  # else: this very completion, sent again (its reply lost), recorded already
            await self.dispatcher.wakes([out.wake])
            log.info("task completed", task_id=task_id, by=by)
        return TaskOpReply(task_id=task_id, status="completed", by=by, at=at)

