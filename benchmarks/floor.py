"""The floor: the raw parts a durable wait is made of, measured on the same servers."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import nats
import redis.asyncio as aioredis
from nats.js.api import StorageType, StreamConfig

from benchmarks.common import percentile
from benchmarks.responder import SUBJECT

__all__ = ["measure_floor"]

LUA_WRITE = "redis.call('HSET', KEYS[1], 'status', ARGV[1], 'checkpoint', ARGV[2]); return 1"


async def _timed(calls: int, fn: object) -> list[float]:
    samples = []
    for i in range(calls):
        start = time.perf_counter()
        await fn(i)  # type: ignore[operator]
        samples.append((time.perf_counter() - start) * 1000)
    return samples


async def _concurrent(total: int, in_flight: int, fn: object) -> float:
    """Operations per second with ``in_flight`` of them outstanding at any time."""
    sem = asyncio.Semaphore(in_flight)

    async def one(i: int) -> None:
        async with sem:
            await fn(i)  # type: ignore[operator]

    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(total)))
    return total / (time.perf_counter() - start)


async def measure_floor(nats_url: str, redis_url: str, quick: bool) -> dict[str, float]:
    n = 300 if quick else 2000
    responder = subprocess.Popen([sys.executable, "-m", "benchmarks.responder", nats_url],  # noqa: ASYNC220
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert responder.stdout is not None
    await asyncio.to_thread(responder.stdout.readline)
    nc = await nats.connect(nats_url)
    r = aioredis.Redis.from_url(redis_url)
    out: dict[str, float] = {}
    try:
        payload = b"x" * 200

        async def rr(_: int) -> None:
            await nc.request(SUBJECT, payload, timeout=5)

        await _timed(50, rr)
        samples = await _timed(n, rr)
        out["floor_rr_p50_ms"] = percentile(samples, 50)
        out["floor_rr_p99_ms"] = percentile(samples, 99)
        out["floor_rr64_per_s"] = await _concurrent(n * 5, 64, rr)

        js = nc.jetstream()
        await js.add_stream(StreamConfig(name="EEBENCH_FLOOR", subjects=["bench.floor.js"],
                                         storage=StorageType.FILE))

        async def pub(_: int) -> None:
            await js.publish("bench.floor.js", payload)

        samples = await _timed(n, pub)
        out["floor_js_pub_p50_ms"] = percentile(samples, 50)
        out["floor_js_pub64_per_s"] = await _concurrent(n * 5, 64, pub)
        await js.delete_stream("EEBENCH_FLOOR")

        sha = await r.script_load(LUA_WRITE)
        checkpoint = "c" * 300

        async def lua(i: int) -> None:
            await r.evalsha(sha, 1, f"eebench:floor:{i}", "parked", checkpoint)

        samples = await _timed(n, lua)
        out["floor_redis_lua_p50_ms"] = percentile(samples, 50)
        start = time.perf_counter()
        total = n * 10
        for base in range(0, total, 100):
            pipe = r.pipeline(transaction=False)
            for i in range(base, base + 100):
                pipe.evalsha(sha, 1, f"eebench:floor:{i}", "parked", checkpoint)
            await pipe.execute()
        out["floor_redis_lua_pipelined_per_s"] = total / (time.perf_counter() - start)
        keys = [k async for k in r.scan_iter("eebench:floor:*", count=1000)]
        for i in range(0, len(keys), 1000):
            await r.delete(*keys[i:i + 1000])
    finally:
        await nc.close()
        await r.aclose()
        responder.kill()
        responder.wait()
    return out
