"""Limits: N one-activity jobs whose activity names a limit, against N whose activity names
none, in the same run.

The limit's concurrency is far above what runs at once, so that nothing waits: the figure is
the cost of the bookkeeping alone (a slot taken in the park script, given back in the result
script). Besides the rates, the Redis commands per job of each kind (``INFO commandstats``):
the limit's check runs inside the scripts that run anyway, so the target is at most one extra
round trip per attempt, and the measure should show none. Script calls (``EVALSHA``) are what
the reactor sends; the commands those scripts run inside Redis are counted apart (they cost
Redis CPU, not round trips). A few jobs of each kind go first, unmeasured, so that neither kind
pays for the warm-up (a new workflow's first use, connections); then each kind runs in two
halves, in the order unlimited, limited, limited, unlimited, so that neither gains from going
second (a warmer process, a fuller Redis).
"""

from __future__ import annotations

import time
from typing import Any

from nats.aio.client import Client as NATS

from benchmarks.common import submit, wait_all
from shared import names
from shared.messages import LimitRequest, LimitSetRequest, encode
from shared.names import Keys

__all__ = ["limited_workflow", "measure_limits"]

LIMIT = "bench-erp"


def limited_workflow(limit: str | None) -> dict[str, Any]:
    echo: dict[str, Any] = {"kind": "activity", "activity": "demo.echo", "input": {"v": "input.v"}, "output": "r",
                            "next": "done"}
    if limit is not None:
        echo["limit"] = limit
    return {"name": "bench_limited" if limit else "bench_unlimited", "version": 1, "start": "echo",
            "nodes": {"echo": echo, "done": {"kind": "end", "output": "vars.r.v"}}}


async def _commands(redis: Any) -> tuple[int, int]:
    """(script calls, every other command) Redis has served so far; the commands a script runs
    count among the others (Redis counts them so)."""
    stats = await redis.info("commandstats")
    calls = {k: int(v["calls"]) for k, v in stats.items() if isinstance(v, dict) and "calls" in v}
    scripts = sum(n for k, n in calls.items() if k in ("cmdstat_evalsha", "cmdstat_eval"))
    return scripts, sum(calls.values()) - scripts


async def _run(nc: NATS, keys: Keys, redis: Any, workflow: dict[str, Any],
               ids: list[str]) -> tuple[float, int, int]:
    """Seconds taken, script calls, other commands."""
    scripts, others = await _commands(redis)
    start = time.perf_counter()
    await submit(nc, workflow, ids, [{"v": i} for i in range(len(ids))])
    await wait_all(redis, keys, ids)
    took = time.perf_counter() - start
    scripts_after, others_after = await _commands(redis)
    return took, scripts_after - scripts, others_after - others


async def measure_limits(nc: NATS, keys: Keys, redis: Any, jobs: int, tag: str = "") -> dict[str, float]:
    """jobs/s of limited and unlimited one-activity jobs, the difference, and Redis commands per job."""
    await nc.request(names.reactor_subject("limit_set"), encode(LimitSetRequest(name=LIMIT, concurrency=1_000_000)),
                     timeout=10)
    try:
        for limit in (None, LIMIT):
            await _run(nc, keys, redis, limited_workflow(limit), [f"lim-warm-{limit}{tag}-{i}" for i in range(20)])
        half = max(1, jobs // 2)
        totals = {None: [0.0, 0, 0, 0], LIMIT: [0.0, 0, 0, 0]}  # seconds, scripts, others, jobs
        for part, limit in enumerate((None, LIMIT, LIMIT, None)):
            ids = [f"lim-{'on' if limit else 'off'}{tag}-{part}-{i}" for i in range(half)]
            took, scripts, others = await _run(nc, keys, redis, limited_workflow(limit), ids)
            for i, value in enumerate((took, scripts, others, half)):
                totals[limit][i] += value
    finally:
        await nc.request(names.reactor_subject("limit_delete"), encode(LimitRequest(name=LIMIT)), timeout=10)
    off_s, off_scripts, off_others, off_n = totals[None]
    on_s, on_scripts, on_others, on_n = totals[LIMIT]
    off, on = off_n / off_s, on_n / on_s
    return {"limited_jobs_per_s": on, "unlimited_jobs_per_s": off,
            "limited_overhead_pct": 100 * (off - on) / off,
            "limited_extra_script_calls_per_job": on_scripts / on_n - off_scripts / off_n,
            "limited_extra_commands_in_redis_per_job": on_others / on_n - off_others / off_n}
