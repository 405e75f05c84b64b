"""`ee jobs --status S` answers from the per-status indexes, whatever the number of newer jobs.

Jobs are started, parked, retried and finished through the reactor's own scripts (no
services), hundreds in a few pipelined round trips; after each step every status index holds
exactly the jobs whose record has that status."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any

import redis.asyncio as aioredis

from reactor.outcomes import Existing, Finished, Fired, Redispatch, Retrying
from reactor.status_backfill import status_backfill
from reactor.store import Store
from shared.messages import ActivityWait, SignalWait
from shared.names import Keys
from tests.support.scripts import Driver
from tests.support.stack import Stack
from tests.support.status_index import assert_status_indexes_match

NEWER = 320  # newer jobs than the parked one, beyond what a filter over the newest would reach


def ee_jobs(stack: Stack, *args: str) -> list[dict[str, Any]]:
    out = subprocess.run([sys.executable, "-m", "ee", "jobs", "--json", *args], env=stack.env(),
                         capture_output=True, text=True, timeout=30, check=True)
    rows: list[dict[str, Any]] = json.loads(out.stdout)
    return rows


def test_status_filters_find_old_jobs_and_follow_every_change(stack: Stack) -> None:
    client = stack.redis_client()
    inspector = stack.inspector()

    def consistent() -> dict[str, set[str]]:
        return assert_status_indexes_match(client, stack.prefix)

    async def go() -> None:
        r = aioredis.from_url(stack.redis.url)
        s = Driver(r, stack.prefix)
        try:
            # The old parked jobs, each parked in its own round trip (so in a known order).
            for job_id, wait in (("old-parked", SignalWait(node="w", signal="go")),
                                 ("retried", ActivityWait(node="w", activity="a", max_attempts=2, backoff_s=0)),
                                 ("to-cancel", SignalWait(node="w", signal="go"))):
                await s.one(s.start(job_id))
                await s.one(s.park(job_id, 0, [wait]))
            # Then many newer jobs: finished (completed or failed) and some still running.
            newer = [f"new-{i:03d}" for i in range(NEWER)]
            await s.many([s.start(j) for j in newer])
            await s.many([s.park(j, 0, [SignalWait(node="w", signal="x")]) for j in newer[:300]])
            await s.many([s.finish(j, 1, "failed") for j in newer[:100]])
            await s.many([s.finish(j, 1, "completed") for j in newer[100:293]])
            for j in newer[293:300]:  # the newest completed, one round trip each
                await s.one(s.finish(j, 1, "completed"))
            by_status = consistent()
            assert by_status["parked"] == {"old-parked", "retried", "to-cancel"}
            assert by_status["running"] == set(newer[300:])
            assert len(by_status["completed"]) == 200 and len(by_status["failed"]) == 100

            # The parked jobs are found however many newer jobs exist, newest parked first.
            assert "old-parked" not in {j["job_id"] for j in ee_jobs(stack, "--limit", "300")}
            parked = ee_jobs(stack, "--status", "parked")
            assert [j["job_id"] for j in parked] == ["to-cancel", "retried", "old-parked"]
            assert {j["status"] for j in parked} == {"parked"}
            assert [j["job_id"] for j in ee_jobs(stack, "--status", "parked", "--limit", "2")] == \
                ["to-cancel", "retried"]
            assert [j["job_id"] for j in ee_jobs(stack, "--status", "completed", "--limit", "7")] == \
                newer[299:292:-1]
            assert {j["job_id"] for j in inspector.jobs(500, "running")} == set(newer[300:])
            assert len(inspector.jobs(150, "failed")) == 100
            assert inspector.jobs(10, "no-such-status") == []

            # An activity retried (the job stays parked), then failed for good, then the job fails.
            [event] = [e["event_id"] for e in inspector.events(job="retried")]
            assert await s.one(s.result(event, 1, False)) == Retrying(attempt=2)
            assert isinstance(await s.one(s.timer(event, at=s.now + 1)), Redispatch)
            consistent()
            # fired: the job is parked until its executor finishes it
            assert isinstance(await s.one(s.result(event, 2, False)), Fired)
            assert consistent()["parked"] == {"old-parked", "retried", "to-cancel"}
            await s.one(s.finish("retried", 1, "failed"))
            assert "retried" in consistent()["failed"]

            # A cancel, of a parked job and of a job not started yet (its start creates nothing).
            await s.one(s.finish("to-cancel", None, "cancelled"))
            await s.one(s.cancel_before_start("early"))
            assert isinstance(await s.one(s.start("early")), Existing)
            # A finished job finished again is refused, and changes nothing.
            assert await s.one(s.finish("to-cancel", None, "failed")) == Finished(status="cancelled")
            by_status = consistent()
            assert by_status["cancelled"] == {"to-cancel", "early"}
            assert [j["job_id"] for j in inspector.jobs(50, "parked")] == ["old-parked"]
            assert [j["job_id"] for j in inspector.jobs(50, "cancelled")] == ["early", "to-cancel"]

            # A resumed job parked again is listed first: it took the status again just now.
            await s.one(s.start("busy"))
            await s.one(s.park("busy", 0, [SignalWait(node="w", signal="go")]))
            assert [j["job_id"] for j in inspector.jobs(50, "parked")] == ["busy", "old-parked"]
            await s.one(s.park("old-parked", 1, [SignalWait(node="w", signal="again")], ["old-parked~1.0"]))
            assert [j["job_id"] for j in inspector.jobs(50, "parked")] == ["old-parked", "busy"]
            consistent()
        finally:
            await r.aclose()

    asyncio.run(go())


def test_jobs_recorded_before_the_indexes_are_filled_in_once(stack: Stack) -> None:
    """Jobs of an older build are in no status index: the reactor's start-up fill puts each in
    the index of its status (scored by creation), in bounded steps, once."""
    keys = Keys(stack.prefix)
    client = stack.redis_client()

    async def go() -> None:
        r = aioredis.from_url(stack.redis.url)
        s = Driver(r, keys.prefix)
        try:
            jobs = [f"older-{i:03d}" for i in range(130)]
            await s.many([s.start(j) for j in jobs])
            await s.many([s.park(j, 0, [SignalWait(node="w", signal="go")]) for j in jobs[:60]])
            await s.many([s.finish(j, 1, "completed") for j in jobs[:50]])
            # As an older build left them: no status index, no fill cursor.
            client.delete(*[keys.job_status(st) for st in ("running", "parked", "completed")])
            assert client.get(keys.job_status_backfill) is None
            assert stack.inspector().jobs(10, "parked") == []

            # A job the scripts index meanwhile keeps its own entry (and score).
            await s.one(s.start("new"))
            indexed_at = client.zscore(keys.job_status("running"), "new")

            await status_backfill(Store(r, keys, 10.0, direct=True), batch=40, pause_s=0)
            by_status = assert_status_indexes_match(client, stack.prefix)
            assert by_status["parked"] == set(jobs[50:60])
            assert client.get(keys.job_status_backfill) == b"done"
            assert client.zscore(keys.job_status("running"), "new") == indexed_at
            assert client.zscore(keys.job_status("running"), jobs[-1]) == s.created[jobs[-1]]  # its creation time

            # Done once: a later start reads nothing, even with an index emptied by hand.
            client.delete(keys.job_status("parked"))
            assert (await s.one(s.status_backfill(40))).read == 0
            assert client.zcard(keys.job_status("parked")) == 0
            # Deleting the cursor has the next start walk every job again.
            client.delete(keys.job_status_backfill)
            await status_backfill(Store(r, keys, 10.0, direct=True), batch=40, pause_s=0)
            assert assert_status_indexes_match(client, stack.prefix)["parked"] == set(jobs[50:60])
        finally:
            await r.aclose()

    asyncio.run(go())


def test_intake_records_are_indexed_and_move_on_at_start(stack: Stack) -> None:
    """A job an older executor could not read is `pending` (listed as such) until it starts; one
    no build could accept is `failed`."""
    client = stack.redis_client()

    async def go() -> None:
        r = aioredis.from_url(stack.redis.url)
        s = Driver(r, stack.prefix)
        try:
            for job_id, verdict in (("later", "waiting"), ("never", "refused")):
                await s.one(s.intake(job_id, verdict))
            assert assert_status_indexes_match(client, stack.prefix) == {"pending": {"later"}, "failed": {"never"}}
            assert [j["job_id"] for j in stack.inspector().jobs(10, "pending")] == ["later"]
            await s.one(s.start("later"))
            assert assert_status_indexes_match(client, stack.prefix) == {"running": {"later"}, "failed": {"never"}}
        finally:
            await r.aclose()

    asyncio.run(go())
