"""The engine's figures: throughput, step and wake latency, recovery."""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import anyio
import msgspec
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from benchmarks.common import chain, connect, percentile, phase, submit, wait_all, wait_ready
from benchmarks.fan_out import measure_fan_out
from benchmarks.limits import measure_limits
from benchmarks.stack import BenchStack
from shared import names
from shared.messages import ParkRequest
from shared.names import Keys

__all__ = ["measure_engine"]

_parks = msgspec.json.Decoder(ParkRequest)


@dataclass
class ParkObserver:
    """Copies of the executors' park requests, as the reactor receives them (a plain subscriber
    gets every message of a queue-group subject too)."""

    nc: NATS
    seen: list[tuple[float, bytes]] = field(default_factory=list)

    async def start(self) -> None:
        async def record(msg: Msg) -> None:
            self.seen.append((time.time(), msg.data))

        await self.nc.subscribe(names.reactor_subject("park"), cb=record)
        await self.nc.subscribe(names.reactor_subject("finish"), cb=record)
        await self.nc.flush()


async def _throughput(stack: BenchStack, nc: NATS, keys: Keys, redis: Any, jobs: int, steps: int) -> dict[str, float]:
    workflow = chain(steps)
    warm = [f"warm-{i}" for i in range(50)]
    await submit(nc, workflow, warm, [{"v": i} for i in range(50)])
    await wait_all(redis, keys, warm)
    ids = [f"tp-{i}" for i in range(jobs)]
    cpu_before = stack.cpu_seconds()
    start = time.perf_counter()
    await submit(nc, workflow, ids, [{"v": i} for i in range(jobs)])
    await wait_all(redis, keys, ids)
    elapsed = time.perf_counter() - start
    cpu_after = stack.cpu_seconds()
    activities = jobs * steps
    out = {"jobs_per_s": jobs / elapsed, "activities_per_s": activities / elapsed}
    for name, used in cpu_after.items():
        out[f"cpu_us_per_activity_{name.split('#')[0]}"] = (used - cpu_before.get(name, 0.0)) / activities * 1e6
    return out


async def _step_latency(nc: NATS, keys: Keys, redis: Any, jobs: int, steps: int) -> dict[str, float]:
    observer = ParkObserver(nc)
    await observer.start()
    workflow = chain(steps)
    for i in range(jobs):
        job_id = f"seq-{i}"
        await submit(nc, workflow, [job_id], [{"v": i}])
        await wait_all(redis, keys, [job_id])
    await asyncio.sleep(0.05)
    by_job: dict[str, list[float]] = {}
    for at, data in observer.seen:
        job_id = msgspec.json.decode(data).get("job_id", "")
        by_job.setdefault(job_id, []).append(at)
    steps_ms = []
    for times in by_job.values():
        times.sort()
        steps_ms += [(b - a) * 1000 for a, b in itertools.pairwise(times)]
    return {"step_p50_ms": percentile(steps_ms, 50), "step_p99_ms": percentile(steps_ms, 99),
            "step_samples": float(len(steps_ms))}


async def _wake_latency(nc: NATS, keys: Keys, redis: Any, rate: float, seconds: float, steps: int) -> dict[str, float]:
    """Jobs of ``demo.stamp`` steps submitted at ``rate`` jobs/s: from the worker's stamp (taken as
    the activity returns, just before its result is published) to the executor's next park."""
    observer = ParkObserver(nc)
    await observer.start()
    workflow = chain(steps, "demo.stamp")
    total = max(10, int(rate * seconds))
    ids = [f"wake-{i}" for i in range(total)]
    start = time.perf_counter()
    for i, job_id in enumerate(ids):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await submit(nc, workflow, [job_id], [{"v": i}])
    await wait_all(redis, keys, ids)
    latencies = []
    for at, data in observer.seen:
        try:
            park = _parks.decode(data)
        except msgspec.ValidationError:
            continue
        resumed = [h.node for h in park.history if h.event == "resumed"]
        if not park.job_id.startswith("wake-") or not resumed:
            continue
        stamped = park.checkpoint.vars.get(resumed[0], {})
        if isinstance(stamped, dict) and "stamped_at" in stamped:
            latencies.append((at - float(stamped["stamped_at"])) * 1000)
    return {"wake_p50_ms": percentile(latencies, 50), "wake_p99_ms": percentile(latencies, 99),
            "wake_rate_jobs_per_s": rate, "wake_samples": float(len(latencies))}


async def _recovery(stack: BenchStack, nc: NATS, keys: Keys, redis: Any, jobs: int) -> dict[str, float]:
    """Jobs parked on a signal; the executor is killed; every signal is delivered (the waits fire
    while no executor runs); then one starts. Measured from its first resumption to its last
    (the executor's own start-up is left out)."""
    workflow = {"name": "recover", "version": 1, "start": "a", "nodes": {
        "a": {"kind": "wait_signal", "signal": "go", "output": "a", "next": "done"},
        "done": {"kind": "end", "output": "vars.a"}}}
    ids = [f"rec-{i}" for i in range(jobs)]
    await submit(nc, workflow, ids, [{"v": i} for i in range(jobs)])
    deadline = time.monotonic() + 300
    while await redis.zcard(keys.event_index("signal")) < jobs:
        if time.monotonic() > deadline:
            raise TimeoutError("jobs did not park")
        await asyncio.sleep(0.05)
    stack.kill("executor")
    sem = asyncio.Semaphore(64)

    async def signal(job_id: str) -> None:
        async with sem:
            await nc.request(names.reactor_subject("signal"),
                             msgspec.json.encode({"job_id": job_id, "signal": "go", "data": 1}), timeout=30)

    await asyncio.gather(*(signal(j) for j in ids))
    stack.start("executor#2")
    await wait_all(redis, keys, ids)
    first = last = None
    for job_id in ids:
        for _, fields in await redis.xrange(keys.job_history(job_id)):
            if fields[b"event"] == b"resumed":
                at = fields[b"at"].decode()
                first = at if first is None or at < first else first
                last = at if last is None or at > last else last
    t0 = datetime.fromisoformat(str(first).replace("Z", "+00:00"))
    t1 = datetime.fromisoformat(str(last).replace("Z", "+00:00"))
    seconds = max((t1 - t0).total_seconds(), 1e-3)
    return {"recovery_jobs_per_s": jobs / seconds, "recovery_jobs": float(jobs)}


async def measure_engine(stack: BenchStack, jobs: int, steps: int, sequential: int, recovery: int,
                         quick: bool) -> dict[str, float]:
    assert stack.nats_url and stack.redis_url
    stack.start("reactor")
    stack.start("executor")
    stack.start("worker", "--demo")
    nc, redis = await connect(stack.nats_url, stack.redis_url)
    keys = Keys(stack.prefix)
    try:
        with phase("start"):
            await wait_ready(nc)
        with phase("throughput"):
            out = await _throughput(stack, nc, keys, redis, jobs, steps)
        with phase("step latency"):
            out |= await _step_latency(nc, keys, redis, sequential, steps)
        with phase("wake latency"):
            out |= await _wake_latency(nc, keys, redis, out["jobs_per_s"] / 2, 2.0 if quick else 5.0, steps)
        with phase("fan-out"):
            out |= await measure_fan_out(nc, keys, redis, 300 if quick else 1000)
        with phase("limits"):
            out |= await measure_limits(nc, keys, redis, 300 if quick else 1000)
        with phase("recovery"):
            out |= await _recovery(stack, nc, keys, redis, recovery)
    finally:
        stack.stop_services()
        with anyio.move_on_after(5):
            await nc.close()
            await redis.aclose()
    return out
