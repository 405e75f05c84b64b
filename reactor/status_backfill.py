"""The one-time fill of the job status indexes with jobs recorded before they existed.

The scripts that write a job's ``status`` keep ``jobs:status:<status>`` (``ee jobs --status``)
in the same step. Jobs recorded by a build older than those indexes are in none of them: at
start, a reactor walks the jobs index in steps of ``batch`` jobs (one short script each, so
Redis is never held for long) and adds each such job to the index of its status, scored by its
creation time. The walk's cursor lives in Redis (``jobs:indexed``): a reactor that stops half
way is followed by one that goes on from there, and once it reads ``done`` no reactor walks
again. Deleting that key makes the next reactor to start walk every job again.
"""

from __future__ import annotations

import anyio
import structlog

from reactor.store import Store

__all__ = ["status_backfill"]

log = structlog.get_logger("ee.reactor")


async def status_backfill(store: Store, batch: int = 1000, pause_s: float = 0.01) -> None:
    """Run the fill to its end (retrying after a failed step), then return."""
    read_total = added_total = 0
    while True:
        try:
            read, added = await store.status_backfill_step(batch)
        except Exception as exc:
            log.warning("status index fill step failed; retrying", error=repr(exc))
            await anyio.sleep(1.0)
            continue
        read_total += read
        added_total += added
        if read < batch:
            break
        await anyio.sleep(pause_s)  # leave Redis to the hot path between steps
    if added_total:
        log.info("status indexes filled with older jobs", jobs_read=read_total, jobs_added=added_total)
