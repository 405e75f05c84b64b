"""What each page shows, read through ``ee``'s own inspection code (``ee.inspect.Inspector``, the
reads of ``ee status``, ``ee jobs``, ``ee events`` and ``ee bots``). Blocking (redis-py): the
pages call these in a worker thread."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from ee.console.forms import JOB_STATUSES, EventFilters, JobFilters
from ee.console.graph import Graph, layout
from ee.inspect import Inspector
from ee.waiting import describe_wait

__all__ = ["AGE_BUCKETS", "bots_view", "events_view", "job_view", "jobs_view", "overview"]

# Parked waits are counted by how long they have waited: up to each bound (seconds), then older.
AGE_BUCKETS: tuple[tuple[str, float], ...] = (("< 1 min", 60.0), ("1-10 min", 600.0), ("10-60 min", 3600.0),
                                              ("1-24 h", 86400.0), ("> 1 day", float("inf")))
# Deadlines (flow control) flag jobs overdue: counted from a status index of that name when it
# holds any (the jobs page lists the real statuses only).
OVERDUE = "overdue"


def _pools(inspector: Inspector) -> dict[str, list[dict[str, Any]]]:
    pools: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for bot in inspector.bots():
        pools[str(bot.get("pool") or "")].append(bot)
    return dict(sorted(pools.items()))


def overview(inspector: Inspector) -> dict[str, Any]:
    counts = inspector.status_counts((*JOB_STATUSES, OVERDUE))
    overdue = counts.pop(OVERDUE)
    ages = inspector.wait_ages(tuple(bound for _, bound in AGE_BUCKETS))
    waits = {kind: dict(zip((name for name, _ in AGE_BUCKETS), found, strict=True))
             for kind, found in ages.items() if any(found)}
    # Overdue human tasks: open ones whose due time passed (the tasks:due index, counted, not read).
    tasks_overdue = int(inspector.r.zcount(inspector.keys.task_due, "-inf", repr(time.time())))
    return {"counts": counts, "overdue": overdue, "tasks_overdue": tasks_overdue, "waits": waits,
            "buckets": [name for name, _ in AGE_BUCKETS],
            "pools": _pools(inspector)}


def jobs_view(inspector: Inspector, f: JobFilters) -> dict[str, Any]:
    """One page of ``ee jobs`` with its filters; ``next_after``: the id the next page follows."""
    rows = inspector.jobs(f.limit, f.status, workflow=f.workflow, since=f.since, until=f.until, after=f.after)
    return {"rows": rows, "next_after": rows[-1]["job_id"] if len(rows) == f.limit else None}


def events_view(inspector: Inspector, f: EventFilters) -> list[dict[str, Any]]:
    rows = inspector.events(f.job, f.kind, f.activity, f.pool, f.bot, f.older_than_s, limit=f.limit,
                            stranded=f.stranded)
    return [{**row, "waits_on": describe_wait(row)} for row in rows]


def bots_view(inspector: Inspector) -> dict[str, Any]:
    """Bots by pool, each with its holder and lease, and the lock requests waiting for the pool
    (event ids, first in line first) with their jobs."""
    pools = _pools(inspector)
    waiting = {pool: list(bots[0].get("waiting") or []) for pool, bots in pools.items() if bots}
    return {"pools": pools, "waiting": waiting}


def _graph(job: dict[str, Any], waits: list[dict[str, Any]], inspector: Inspector) -> Graph | None:
    workflow = inspector.workflow(str(job.get("digest") or ""))
    if workflow is None:
        return None
    history = job.get("history") or []
    current = [str(w.get("node", "")) for w in waits]
    checkpoint = job.get("checkpoint")
    if not current and job.get("status") in ("running", "pending") and isinstance(checkpoint, dict):
        current = [str(checkpoint.get("node", ""))]
    failed = [str(h.get("node", "")) for h in history if h.get("event") == "failed"]
    if job.get("status") != "failed":
        failed = []
    visited = [str(h.get("node", "")) for h in history]
    return layout(workflow, current, failed, visited)


def job_view(inspector: Inspector, job_id: str) -> dict[str, Any] | None:
    """``ee status``: the job, its open waits in words, its history, and its workflow drawn."""
    job = inspector.job(job_id)
    if job is None:
        return None
    waits = inspector.events(job=job_id) if job.get("events") else []
    waits = [{**wait, "waits_on": describe_wait(wait)} for wait in waits]
    checkpoint = job.get("checkpoint")
    variables = checkpoint.get("vars", {}) if isinstance(checkpoint, dict) else None
    return {"job": job, "waits": waits, "variables": variables, "graph": _graph(job, waits, inspector),
            "final": job.get("status") in ("completed", "failed", "cancelled")}
