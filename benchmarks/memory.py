"""Redis bytes per parked wait: ``used_memory`` before and after K jobs parked on an activity
nobody serves, each with a checkpoint of about 300 bytes, driven through the reactor for real.
Then the same jobs finished (a small output, one more history entry): Redis bytes per finished
job, which is what each holds until its retention (``EE_RETENTION``) ends."""

from __future__ import annotations

import asyncio
import time

import anyio
import nats
import redis.asyncio as aioredis

from benchmarks.common import wait_ready
from benchmarks.stack import BenchStack
from shared import clock, names
from shared.messages import (
    ActivityWait,
    Checkpoint,
    FinishRequest,
    HistoryEntry,
    ParkRequest,
    StartRequest,
    encode,
)
from shared.workflow import decode_workflow, encode_workflow, workflow_digest

__all__ = ["measure_memory"]

WORKFLOW = {"name": "mem", "version": 1, "start": "wait", "nodes": {
    "wait": {"kind": "activity", "activity": "bench.nobody", "output": "r", "next": "done"},
    "done": {"kind": "end"}}}


async def measure_memory(stack: BenchStack, parked: int) -> dict[str, float]:
    assert stack.nats_url and stack.redis_url
    stack.start("reactor#mem", EE_REDIS_PREFIX="eemem:")
    nc = await nats.connect(stack.nats_url)
    r = aioredis.Redis.from_url(stack.redis_url)
    try:
        await wait_ready(nc, executor=False, worker=False)
        workflow = decode_workflow(WORKFLOW)
        encoded = encode_workflow(workflow)
        digest = workflow_digest(encoded)
        pad = "x" * 262  # with the node name and steps, a checkpoint of about 300 bytes
        checkpoint = Checkpoint(node="wait", vars={"pad": pad}, steps=1)
        assert 290 <= len(encode(checkpoint)) <= 310, len(encode(checkpoint))
        await r.memory_purge()
        before = int((await r.info("memory"))["used_memory"])
        sem = asyncio.Semaphore(256)
        # What an executor sends with a first park: the node entered and parked.
        history = [HistoryEntry(at=clock.iso(), node="wait", event=e, build="bench") for e in ("entered", "parked")]

        async def park_one(i: int) -> None:
            job_id = f"mem-{i}"
            async with sem:
                await nc.request(names.reactor_subject("start"), encode(StartRequest(
                    job_id=job_id, workflow=encoded, digest=digest, name="mem", version=1, start="wait")),
                    timeout=30)
                await nc.request(names.reactor_subject("park"), encode(ParkRequest(
                    job_id=job_id, fence=0, checkpoint=checkpoint, history=history,
                    waits=[ActivityWait(node="wait", activity="bench.nobody")])), timeout=30)

        started = time.perf_counter()
        await asyncio.gather(*(park_one(i) for i in range(parked)))
        elapsed = time.perf_counter() - started
        await asyncio.sleep(0.5)
        after = int((await r.info("memory"))["used_memory"])
        done = [HistoryEntry(at=clock.iso(), node="done", event="completed", build="bench")]

        async def finish_one(i: int) -> None:
            async with sem:
                await nc.request(names.reactor_subject("finish"), encode(FinishRequest(
                    job_id=f"mem-{i}", fence=1, status="completed", output={"ok": True, "n": i},
                    history=done)), timeout=30)

        await asyncio.gather(*(finish_one(i) for i in range(parked)))
        await asyncio.sleep(0.5)
        await r.memory_purge()
        finished = int((await r.info("memory"))["used_memory"])
        return {"redis_bytes_per_wait": (after - before) / parked, "memory_parked": float(parked),
                "park_requests_per_s": parked / elapsed,
                "redis_bytes_per_finished_job": (finished - before) / parked}
    finally:
        stack.kill("reactor#mem")
        with anyio.move_on_after(5):
            await nc.close()
            await r.aclose()
