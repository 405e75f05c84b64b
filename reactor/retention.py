"""Removing finished jobs: in bounded batches, one short script each (``purge.lua``).

A finished job's keys expire by themselves (the TTL its finishing step set, ``EE_RETENTION``),
but the indexes of job ids (``jobs``, ``jobs:status:<status>``, ``stranded``) are sorted sets
that no TTL cleans. The reactor's retention sweep (:func:`retention_loop`) and
``ee purge`` (the ``purge`` endpoint) both walk the status indexes of the final statuses with
:func:`purge_finished`: a batch of at most ``batch`` jobs per script, so that Redis serves the
hot path between batches, and at most ``max_batches`` batches per call.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import anyio
import structlog

from reactor.contracts import FINAL_STATUSES
from reactor.periodic import every
from reactor.store import Store

__all__ = ["BATCH", "PurgeTally", "purge_finished", "retention_interval", "retention_loop"]

log = structlog.get_logger("ee.reactor")

BATCH = 100


@dataclass
class PurgeTally:
    removed: dict[str, int] = field(default_factory=dict)  # per status
    batches: int = 0
    more: bool = False  # stopped at max_batches with jobs still due

    @property
    def total(self) -> int:
        return sum(self.removed.values())


async def purge_finished(store: Store, older_than_s: float, statuses: tuple[str, ...] = FINAL_STATUSES, *,
                         batch: int = BATCH, max_batches: int | None = None, dry_run: bool = False,
                         pause_s: float = 0.0) -> PurgeTally:
    """Remove the jobs of ``statuses`` (final ones only) that took their status more than
    ``older_than_s`` ago, batch by batch. ``dry_run``: count them instead (one ZCOUNT each)."""
    tally = PurgeTally({s: 0 for s in statuses})
    for status in statuses:
        if status not in FINAL_STATUSES:
            raise ValueError(f"not a final status: {status!r}")
        if dry_run:
            tally.removed[status] = await store.count_finished(status, older_than_s)
            continue
        while True:
            if max_batches is not None and tally.batches >= max_batches:
                tally.more = True
                return tally
            out = await store.purge(status, older_than_s, batch)
            tally.batches += 1
            tally.removed[status] += out.removed
            if not out.more:
                break
            await anyio.sleep(pause_s)  # leave Redis to the hot path between batches
    return tally


def retention_interval(retention_s: float) -> float:
    """How often the retention sweep runs: a quarter of the retention, between 0.5 s and 60 s
    (a job whose keys expired stays listed in the indexes at most that long; ``ee jobs``
    skips such ids meanwhile)."""
    return min(60.0, max(0.5, retention_s / 4))


async def retention_loop(store: Store, interval: float | None = None) -> None:
    """Take finished jobs older than the retention (``EE_RETENTION``, their keys expired by
    their TTL) out of every index of job ids, in bounded batches (:func:`purge_finished`).
    Nothing to do when the retention is 0 (finished jobs are kept)."""
    if store.retention_s <= 0:
        return

    async def one_pass() -> None:
        tally = await purge_finished(store, store.retention_s, pause_s=0.01)
        if tally.total:
            log.info("finished jobs past their retention removed", count=tally.total, **tally.removed)

    await every(retention_interval(store.retention_s) if interval is None else interval, one_pass, log=log,
                failed="retention sweep failed")
