"""What the hostile-input tests share: a corpus of hostile bytes, raw publishes as any
client could make them, and the checks that the engine still serves afterwards."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import nats

from shared import names
from shared.bounds import MAX_DATA_DEPTH
from shared.messages import ActivityTask, Codec
from tests.support.stack import Stack, poll
from tests.workflows import chain

__all__ = ["CORPUS", "DEEP", "GARBAGE", "assert_serving", "consumer_idle", "core_publish", "deadletters",
           "deep_result", "error_of", "parked_event", "the_task"]

GARBAGE = b"\x00\xffnot json at all{{{"
DEEP = b"[" * 5000 + b"]" * 5000  # ~10 KB: RecursionError in msgspec without the bound


def deep_result(levels: int) -> bytes:
    return b'{"event_id":"x~1.0","attempt":1,"ok":true,"output":' + b"[" * levels + b"]" * levels + b"}"


# A small corpus of hostile bytes: malformed, deep, huge, wrongly typed, odd code points.
CORPUS: list[bytes] = [
    b"", b"\x00\xff", b"{", b"[}", b"null", b"[]", b'"x"', b"1e999999", DEEP, b"{" * 3000,
    b'{"a":' * 2000, deep_result(MAX_DATA_DEPTH + 1), b'{"event_id": 1, "attempt": "x", "ok": 3}',
    b'{"event_id":"\\ud800","attempt":1,"ok":true}', b'{"job_id":"' + b"j" * 100_000 + b'"}',
    b'[' + b'{"a":[1,{"b":"[[[["}]},' * 2000 + b'{}]',
]

_tasks = Codec(ActivityTask, "activity.execute")


def core_publish(stack: Stack, subject: str, data: bytes) -> None:
    """A core NATS publish (no stream), flushed: as a bot or any client sends a heartbeat or a wake."""
    async def go() -> None:
        nc = await nats.connect(stack.nats.url)
        try:
            await nc.publish(subject, data)
            await nc.flush()
        finally:
            await nc.close()

    asyncio.run(go())


def deadletters(stack: Stack, limit: int = 100) -> list[dict[str, str]]:
    return stack.inspector().deadletters(limit)


def error_of(reply: Any) -> tuple[str, str]:
    """A micro error reply's code and description; ("", "") for a success."""
    headers = reply.headers or {}
    return headers.get("Nats-Service-Error-Code", ""), headers.get("Nats-Service-Error", "")


def consumer_idle(stack: Stack, stream: str, durable: str) -> bool:
    """Whether the consumer holds nothing: no message pending, none delivered and unacked."""
    async def go() -> bool:
        nc = await nats.connect(stack.nats.url)
        try:
            info = await nc.jetstream().consumer_info(stream, durable)
            return bool(info.num_pending == 0 and info.num_ack_pending == 0)
        finally:
            await nc.close()

    return asyncio.run(go())


def parked_event(stack: Stack, job_id: str) -> dict[str, Any]:
    """The job's first event, once it is parked."""
    def found() -> dict[str, Any] | None:
        events = stack.inspector().events(job_id)
        return events[0] if events and events[0]["status"] == "parked" else None

    return poll(found, 20, what=f"a parked event of {job_id}")


def the_task(stack: Stack, activity: str) -> ActivityTask:
    """The last task the reactor dispatched for ``activity`` (nobody consumed it), read from its stream."""
    async def go() -> ActivityTask | None:
        nc = await nats.connect(stack.nats.url)
        try:
            msg = await nc.jetstream().get_last_msg(names.STREAM_ACTIVITIES, names.activity_subject(activity))
            return _tasks.decode(msg.data or b"")
        except Exception:
            return None
        finally:
            await nc.close()

    return poll(lambda: asyncio.run(go()), 20, what=f"the task of {activity}")


def assert_serving(stack: Stack, value: Any = "ok") -> None:
    """Every service started is alive and answers (the reactor's ``inspect`` replies, each
    ``/healthz`` is 200 when the stack serves them), and a normal job completes with its output.
    Services the test SIGKILLed itself are left out."""
    running = [s for s in stack.services if s.proc is None or s.proc.returncode != -9]
    for service in running:
        assert service.alive(), f"{service.name} exited:\n{service.output()[-3000:]}"
    reply = stack.request(names.reactor_subject("inspect"), json.dumps({"job_id": "serving-probe"}).encode())
    assert error_of(reply)[0] == "404", error_of(reply)
    for service in running:
        if service.ops_port:
            assert service.healthz() == 200, f"{service.name} /healthz:\n{service.output()[-3000:]}"
    job_id = stack.submit(chain(1), {"v": value})
    job = stack.wait_job(job_id)
    assert (job["status"], job.get("output")) == ("completed", {"v": value}), job
