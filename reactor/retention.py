"""Removing finished jobs: in bounded batches, one short script each (``purge.lua``).

A finished job's keys expire by themselves (the TTL its finishing step set, ``EE_RETENTION``),
but the indexes of job ids (``jobs``, ``jobs:status:<status>``, ``stranded``) are sorted sets
that no TTL cleans. The reactor's retention sweep (``reactor.loops.retention_loop``) and
``ee purge`` (the ``purge`` endpoint) both walk the status indexes of the final statuses with
:func:`purge_finished`: a batch of at most ``batch`` jobs per script, so that Redis serves the
hot path between batches, and at most ``max_batches`` batches per call.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import anyio

from reactor.contracts import FINAL_STATUSES
from reactor.store import Store

__all__ = ["BATCH", "PurgeTally", "purge_finished"]

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
