"""Limits: N one-activity jobs whose activity names a limit, against N whose activity names
none, in the same run.

The limit's concurrency is far above what runs at once, so that nothing waits: the figure is
the cost of the bookkeeping alone (a slot taken in the park script, given back in the result
script). Besides the rates, the Redis commands per job of each kind (``INFO commandstats``):
the limit's check runs inside the scripts that run anyway, so the target is at most one extra
round trip per attempt, and the measure should show none.
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


async def _commands(redis: Any) -> int:
    """Every command Redis has served so far (each script call counts one)."""
    stats = await redis.info("commandstats")
    return sum(int(v["calls"]) for k, v in stats.items() if isinstance(v, dict) and "calls" in v)


async def _run(nc: NATS, keys: Keys, redis: Any, workflow: dict[str, Any], ids: list[str]) -> tuple[float, float]:
    before = await _commands(redis)
    start = time.perf_counter()
    await submit(nc, workflow, ids, [{"v": i} for i in range(len(ids))])
    await wait_all(redis, keys, ids)
    rate = len(ids) / (time.perf_counter() - start)
    return rate, (await _commands(redis) - before) / len(ids)


async def measure_limits(nc: NATS, keys: Keys, redis: Any, jobs: int, tag: str = "") -> dict[str, float]:
    """jobs/s of limited and unlimited one-activity jobs, the difference, and Redis commands per job."""
    await nc.request(names.reactor_subject("limit_set"), encode(LimitSetRequest(name=LIMIT, concurrency=1_000_000)),
                     timeout=10)
    try:
        unlimited, unlimited_cmds = await _run(nc, keys, redis, limited_workflow(None),
                                               [f"lim-off{tag}-{i}" for i in range(jobs)])
        limited, limited_cmds = await _run(nc, keys, redis, limited_workflow(LIMIT),
                                           [f"lim-on{tag}-{i}" for i in range(jobs)])
    finally:
        await nc.request(names.reactor_subject("limit_delete"), encode(LimitRequest(name=LIMIT)), timeout=10)
    return {"limited_jobs_per_s": limited, "unlimited_jobs_per_s": unlimited,
            "limited_overhead_pct": 100 * (unlimited - limited) / unlimited,
            "limited_extra_redis_commands_per_job": limited_cmds - unlimited_cmds}
