"""What the benchmarks share: workflows, readiness, submission, completion counting, statistics."""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import sys
import time
from collections.abc import Iterator
from typing import Any

import anyio
import nats
import redis.asyncio as aioredis
from nats.aio.client import Client as NATS

from shared import names
from shared.names import Keys

__all__ = ["chain", "connect", "count_finished", "median", "percentile", "phase", "submit", "wait_all", "wait_ready"]


def chain(steps: int, activity: str = "demo.echo") -> dict[str, Any]:
    nodes: dict[str, Any] = {}
    for i in range(steps):
        source = "input" if i == 0 else f"vars.s{i - 1}"
        nodes[f"s{i}"] = {"kind": "activity", "activity": activity, "input": {"v": f"{source}.v"},
                          "output": f"s{i}", "next": f"s{i + 1}" if i + 1 < steps else "done"}
    nodes["done"] = {"kind": "end", "output": f"vars.s{steps - 1}"}
    return {"name": f"bench{steps}", "version": 1, "start": "s0", "nodes": nodes}


@contextlib.contextmanager
def phase(name: str, limit_s: float = 600) -> Iterator[None]:
    """Report a phase on stderr and give it a deadline: a benchmark never hangs."""
    print(f"ee bench: {name}...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    with anyio.fail_after(limit_s):
        yield
    print(f"ee bench: {name} done in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


async def wait_ready(nc: NATS, executor: bool = True, worker: bool = True, patience: float = 60) -> None:
    js = nc.jetstream()
    deadline = time.monotonic() + patience
    while True:
        try:
            await nc.request(names.reactor_subject("inspect"), b'{"job_id":"ready-probe"}', timeout=1)
            if executor:
                await js.consumer_info(names.STREAM_JOBS, names.CONSUMER_EXECUTOR_JOBS)
            if worker:
                await js.consumer_info(names.STREAM_ACTIVITIES, names.activity_consumer("demo.echo"))
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def submit(nc: NATS, workflow: dict[str, Any], job_ids: list[str], inputs: list[dict[str, Any]]) -> None:
    js = nc.jetstream()
    futures = []
    for job_id, job_input in zip(job_ids, inputs, strict=True):
        body = json.dumps({"workflow": workflow, "input": job_input, "job_id": job_id}).encode()
        futures.append(await js.publish_async(names.JOBS_EXECUTE, body, headers={"Nats-Msg-Id": job_id}))
        if len(futures) >= 2000:
            await asyncio.gather(*futures)
            futures.clear()
    await asyncio.gather(*futures)


async def count_finished(r: aioredis.Redis, keys: Keys, job_ids: list[str]) -> int:
    pipe = r.pipeline(transaction=False)
    for job_id in job_ids:
        pipe.hget(keys.job(job_id), "status")
    return sum(1 for s in await pipe.execute() if s in (b"completed", b"failed", b"cancelled"))


async def wait_all(r: aioredis.Redis, keys: Keys, job_ids: list[str], patience: float = 600) -> None:
    pending = list(job_ids)
    deadline = time.monotonic() + patience
    while pending:
        pipe = r.pipeline(transaction=False)
        for job_id in pending:
            pipe.hget(keys.job(job_id), "status")
        statuses = await pipe.execute()
        pending = [j for j, s in zip(pending, statuses, strict=True)
                   if s not in (b"completed", b"failed", b"cancelled")]
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(pending)} jobs unfinished after {patience}s")
        if pending:
            await asyncio.sleep(0.02)


async def connect(nats_url: str, redis_url: str) -> tuple[NATS, aioredis.Redis]:
    return await nats.connect(nats_url), aioredis.Redis.from_url(redis_url)
