"""Read-only views of human tasks, straight from Redis: the inbox and one task.

A task is its event (kind ``task``). The inbox reads the indexes the reactor keeps:
``tasks:assignee:<assignee>`` (one assignee's open tasks), ``tasks:due`` (open tasks by due
time: overdue when before now) and ``events:task`` (every open task). A task whose wait ended
(fired, not yet consumed by its job) is left out of the inbox; ``show`` still finds it, and a
completed one from its completion record (``task-done:{J}~F.i``) once the job moved on.

The ``--json`` shape of a task (a public interface that only gains fields): ``task_id``,
``job_id``, ``node``, ``title``, ``details``, ``assignee``, ``form``, ``status`` (open, fired,
completed), ``due`` (Unix seconds or None), ``overdue``, ``escalate_to``, ``claimed_by``,
``claimed_at``, ``escalated_at``, ``parked_at``, ``completed_by``, ``completed_at``, ``data``.
"""

from __future__ import annotations

import time
from typing import Any

from ee.inspect import Inspector
from shared.layout import EventRecord, TaskDoneRecord, decode_hash, event_job

__all__ = ["inbox", "task"]

_FIELDS = ("job", "node", "status", "title", "details", "assignee", "form", "due", "escalate_to", "claimed_by",
           "claimed_at", "escalated_at", "parked_at", "kind", "result", "overdue")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _row(task_id: str, event: dict[str, Any], now: float) -> dict[str, Any]:
    due = event.get("due")
    due = due if isinstance(due, float) else None
    status = "open" if event.get("status") == "parked" else str(event.get("status") or "")
    stored = event.get("result")
    result: dict[str, Any] = stored if isinstance(stored, dict) else {}
    return {
        "task_id": task_id, "job_id": event.get("job") or event_job(task_id), "node": event.get("node", ""),
        "title": event.get("title", ""), "details": event.get("details"), "assignee": event.get("assignee", ""),
        "form": event.get("form") or {}, "status": status, "due": due,
        "overdue": status == "open" and due is not None and due <= now and not event.get("escalated_at"),
        "escalate_to": event.get("escalate_to", ""), "claimed_by": event.get("claimed_by", ""),
        "claimed_at": event.get("claimed_at", ""), "escalated_at": event.get("escalated_at", ""),
        "parked_at": event.get("parked_at", ""), "completed_by": "", "completed_at": "",
        "data": result.get("output") if status == "fired" and result.get("ok") else None,
    }


def _read(inspector: Inspector, ids: list[str], now: float) -> list[dict[str, Any]]:
    pipe = inspector.r.pipeline(transaction=False)
    for task_id in ids:
        pipe.hmget(inspector.keys.event(task_id), list(_FIELDS))
    rows = []
    for task_id, values in zip(ids, pipe.execute() if ids else [], strict=True):
        raw = {name: v for name, v in zip(_FIELDS, values, strict=True) if v is not None}
        if not raw or _text(raw.get("kind", b"")) != "task":
            continue
        rows.append(_row(task_id, decode_hash(EventRecord, raw), now))
    return rows


def inbox(inspector: Inspector, assignee: str | None = None, overdue: bool = False,
          limit: int = 1000) -> list[dict[str, Any]]:
    """Open tasks, oldest first: of one assignee, only overdue ones, or all."""
    keys, now = inspector.keys, time.time()
    if overdue:
        ids = inspector.r.zrangebyscore(keys.task_due, "-inf", repr(now), start=0, num=limit * 2)
    elif assignee:
        ids = inspector.r.zrange(keys.task_assignee(assignee), 0, limit * 2 - 1)
    else:
        ids = inspector.r.zrange(keys.event_index("task"), 0, limit * 2 - 1)
    rows = [r for r in _read(inspector, [_text(i) for i in ids], now) if r["status"] == "open"]
    if assignee:
        rows = [r for r in rows if r["assignee"] == assignee]
    if overdue:
        rows = [r for r in rows if r["overdue"]]
    return sorted(rows, key=lambda r: r["parked_at"])[:limit]


def task(inspector: Inspector, task_id: str) -> dict[str, Any] | None:
    """One task: open, fired, or completed (its completion record); None when unknown."""
    found = _read(inspector, [task_id], time.time())
    done_raw = inspector.r.hgetall(inspector.keys.task_done(task_id))
    done = decode_hash(TaskDoneRecord, done_raw) if done_raw else None
    if not found and done is None:
        return None
    row = found[0] if found else {
        "task_id": task_id, "job_id": (done or {}).get("job") or event_job(task_id), "node": "", "title": "",
        "details": None, "assignee": "", "form": {}, "due": None, "overdue": False, "escalate_to": "",
        "claimed_by": "", "claimed_at": "", "escalated_at": "", "parked_at": "", "data": None}
    if done is not None:
        row.update(status="completed", overdue=False, completed_by=done.get("completed_by", ""),
                   completed_at=done.get("completed_at", ""), data=done.get("data"))
        for name in ("node", "title", "assignee"):
            row[name] = row.get(name) or done.get(name, "")
    return row
