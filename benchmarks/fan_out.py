"""Fan-out: one job mapping N items over ``demo.echo``, against N one-activity jobs in the same run.

Both move N activities through the same reactor, executor and worker; the map's are the
branches of one job, each result a wake of that one job (fired events of a job come in one
wake, parked in one park), the others N jobs with one wait each.
"""

from __future__ import annotations

import time
from typing import Any

from nats.aio.client import Client as NATS

from benchmarks.common import submit, wait_all
from shared.names import Keys

__all__ = ["fan_out_workflow", "measure_fan_out"]

CONCURRENCY = 200


def fan_out_workflow() -> dict[str, Any]:
    return {"name": "bench_fan_out", "version": 1, "start": "each", "nodes": {
        "each": {"kind": "map", "items": "input.items", "max_concurrency": CONCURRENCY, "output": "echoed",
                 "next": "done",
                 "body": {"start": "echo", "nodes": {
                     "echo": {"kind": "activity", "activity": "demo.echo", "input": {"v": "item"}, "output": "r",
                              "next": "e"},
                     "e": {"kind": "end", "output": "vars.r.v"}}}},
        "done": {"kind": "end", "output": "length(vars.echoed)"}}}


def _one_activity() -> dict[str, Any]:
    return {"name": "bench_one", "version": 1, "start": "echo", "nodes": {
        "echo": {"kind": "activity", "activity": "demo.echo", "input": {"v": "input.v"}, "output": "r",
                 "next": "done"},
        "done": {"kind": "end", "output": "vars.r.v"}}}


async def measure_fan_out(nc: NATS, keys: Keys, redis: Any, items: int, tag: str = "") -> dict[str, float]:
    """activities/s of the map and of the independent jobs, and the map's share of the latter."""
    ids = [f"fan-one{tag}-{i}" for i in range(items)]
    start = time.perf_counter()
    await submit(nc, _one_activity(), ids, [{"v": i} for i in range(items)])
    await wait_all(redis, keys, ids)
    independent = items / (time.perf_counter() - start)
    job = f"fan-map{tag}"
    start = time.perf_counter()
    await submit(nc, fan_out_workflow(), [job], [{"items": list(range(items))}])
    await wait_all(redis, keys, [job])
    mapped = items / (time.perf_counter() - start)
    status = await redis.hget(keys.job(job), "status")
    if status != b"completed":
        error = await redis.hget(keys.job(job), "error")
        raise RuntimeError(f"the fan-out job ended {status!r}: {error!r}")
    return {"fan_out_activities_per_s": mapped, "fan_out_independent_activities_per_s": independent,
            "fan_out_share_pct": 100 * mapped / independent}
