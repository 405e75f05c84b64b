"""A real reactor holding a job with several branches in flight, this test playing the executor
(its start, park and finish requests, the wakes it is offered) and the worker (results with
their attempt tokens): every fired event is offered, each consumed once; a dropped activity is
told to cancel; a child wait runs a child job whose end wakes the parent; cancelling the parent
cancels the child."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import nats
from nats.aio.client import Client

from shared import names
from shared.messages import (
    ActivityResult,
    ActivityTask,
    ActivityWait,
    CancelRequest,
    Checkpoint,
    ChildWait,
    FinishRequest,
    ParkReply,
    ParkRequest,
    SignalWait,
    StartRequest,
    Wait,
    Wake,
    encode,
)
from shared.names import child_job_id
from shared.workflow import decode_workflow, encode_workflow, workflow_digest
from tests.support.stack import Stack


def reactor_alone(body: Callable[[Stack], Coroutine[Any, Any, None]]) -> Callable[[Stack], None]:
    """The test on a stack with a reactor alone (this test is the executor and the worker)."""
    def run(stack: Stack) -> None:
        stack.reactor()
        stack.wait_ready()
        asyncio.run(body(stack))

    run.__name__, run.__doc__ = body.__name__, body.__doc__
    return run

FLOW = {"name": "branches", "start": "w", "nodes": {"w": {"kind": "wait_signal", "signal": "go", "next": "e"},
                                                    "e": {"kind": "end"}}}
_wake = msgspec.json.Decoder(Wake)
_task = msgspec.json.Decoder(ActivityTask)


class Executor:
    """This test in the executor's seat: requests to the reactor, and the wakes it offers."""

    def __init__(self, nc: Client) -> None:
        self.nc = nc
        self.wakes: asyncio.Queue[Wake] = asyncio.Queue()
        self.cancels: set[str] = set()
        self.workflow = encode_workflow(decode_workflow(FLOW))
        self.digest = workflow_digest(self.workflow)

    async def listen(self) -> None:
        async def on_wake(msg: Any) -> None:
            await self.wakes.put(_wake.decode(msg.data))

        async def on_cancel(msg: Any) -> None:
            self.cancels.add(msg.subject.removeprefix(names.activity_cancel_subject("")))

        await self.nc.subscribe(names.EXECUTOR_WAKE, cb=on_wake)
        await self.nc.subscribe(names.activity_cancel_subject(">"), cb=on_cancel)
        await self.nc.flush()

    async def request(self, op: str, message: msgspec.Struct) -> Any:
        reply = await self.nc.request(names.reactor_subject(op), encode(message), timeout=10)
        assert not (reply.headers or {}).get("Nats-Service-Error-Code"), reply.headers
        return json.loads(reply.data)

    async def start(self, job_id: str) -> None:
        await self.request("start", StartRequest(job_id=job_id, workflow=self.workflow, digest=self.digest,
                                                 name="branches", version=1, start="w"))

    async def park(self, job_id: str, fence: int, waits: Sequence[Wait], consumed: Sequence[str] = (),
                   drop: Sequence[str] = ()) -> ParkReply:
        out = await self.request("park", ParkRequest(job_id=job_id, fence=fence, checkpoint=Checkpoint(node="w"),
                                                     waits=list(waits), consumed=list(consumed), drop=list(drop)))
        return msgspec.convert(out, ParkReply)

    async def wake_of(self, job_id: str) -> Wake:
        """The next wake offered for ``job_id`` within 20 s (others are left aside)."""
        deadline = time.monotonic() + 20
        while True:
            wake = await asyncio.wait_for(self.wakes.get(), max(0.01, deadline - time.monotonic()))
            if wake.job_id == job_id:
                return wake

    async def result(self, activity: str, event_id: str, output: Any) -> None:
        """The worker's side: the task's token read from its stream, the result published."""
        js = self.nc.jetstream()
        deadline = time.monotonic() + 20
        while True:
            try:
                msg = await js.get_last_msg(names.STREAM_ACTIVITIES, names.activity_subject(activity))
                task = _task.decode(msg.data or b"")
                if task.event_id == event_id:
                    break
            except Exception:
                if time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.02)
        result = ActivityResult(event_id=event_id, attempt=1, ok=True, output=output, token=task.token)
        await js.publish(names.ACTIVITY_RESPONSE, encode(result))


@asynccontextmanager
async def executor(stack: Stack) -> AsyncIterator[Executor]:
    nc = await nats.connect(stack.nats.url)
    try:
        ex = Executor(nc)
        await ex.listen()
        yield ex
    finally:
        await nc.close()


def act(activity: str, branch: str) -> ActivityWait:
    return ActivityWait(node=f"both.{branch}/{activity}", branch=f"both.{branch}", activity=activity)


@reactor_alone
async def test_results_of_two_branches_are_each_offered_and_consumed_once(stack: Stack) -> None:
    async with executor(stack) as ex:
        await ex.start("j")
        reply = await ex.park("j", 0, [act("erp.post", "erp"), act("mail.send", "mail")])
        erp, mail = reply.events
        # Both results come in together (the reactor applies them in one batch or two).
        await asyncio.gather(ex.result("erp.post", erp, "posted"), ex.result("mail.send", mail, "sent"))
        consumed: list[str] = []
        outputs: dict[str, Any] = {}
        fence = 1
        while len(consumed) < 2:
            wake = await ex.wake_of("j")
            assert wake.fence == fence
            # The executor parks what this wake carries; a result that fired after the wake was
            # read (while "the executor worked") is offered by the park at once.
            for f in wake.fired:
                assert f.event_id not in consumed and f.result is not None
                outputs[f.branch] = f.result.output
            fresh = [f.event_id for f in wake.fired]
            consumed += fresh
            await ex.park("j", fence, [SignalWait(node="w", signal="go")] if len(consumed) == 2 else [], fresh)
            fence += 1
        assert sorted(consumed) == sorted([erp, mail])
        assert outputs == {"both.erp": "posted", "both.mail": "sent"}
        # Nothing is offered again: no fired event is left.
        assert stack.redis_client().zcard(stack.inspector().keys.job_fired("j")) == 0
        assert [e["kind"] for e in stack.inspector().events(job="j")] == ["signal"]


@reactor_alone
async def test_a_dropped_activity_in_flight_is_told_to_cancel_and_gone(stack: Stack) -> None:
    async with executor(stack) as ex:
        await ex.start("j")
        erp, mail = (await ex.park("j", 0, [act("erp.post", "erp"), act("mail.send", "mail")])).events
        events = stack.inspector().events(job="j")
        assert [(e["event_id"], e["branch"]) for e in events] == [(erp, "both.erp"), (mail, "both.mail")]
        await ex.result("erp.post", erp, "posted")
        wake = await ex.wake_of("j")
        assert [f.event_id for f in wake.fired] == [erp]
        # The erp branch decides the node failed: the mail branch is dropped while it runs.
        await ex.park("j", 1, [SignalWait(node="w", signal="go")], [erp], drop=[mail])
        deadline = time.monotonic() + 20
        while mail not in ex.cancels:
            assert time.monotonic() < deadline, "no cancel notice for the dropped activity"
            await asyncio.sleep(0.02)
        assert [e["kind"] for e in stack.inspector().events(job="j")] == ["signal"]
        assert stack.inspector().events(kind="activity") == []


@reactor_alone
async def test_a_child_job_runs_once_and_its_end_wakes_the_parent(stack: Stack) -> None:
    async with executor(stack) as ex:
        await ex.start("p")
        child = child_job_id("p", "post")
        call = ChildWait(node="post", job_id=child, digest=ex.digest, name="branches", version=1, start="w",
                         input={"invoice": 7})
        [event] = (await ex.park("p", 0, [call])).events
        # The child is offered to an executor, from its start node.
        wake = await ex.wake_of(child)
        assert (wake.fence, wake.checkpoint.node, wake.input, wake.fired) == (0, "w", {"invoice": 7}, [])
        [child_event] = (await ex.park(child, 0, [SignalWait(node="w", signal="go")])).events
        rows = {e["event_id"]: e for e in stack.inspector().events(kind="child")}
        assert rows[event]["child"] == child
        await ex.request("finish", FinishRequest(job_id=child, fence=1, status="completed", output={"ok": 1},
                                                 consumed=[]))
        wake = await ex.wake_of("p")
        [f] = wake.fired
        assert (f.event_id, f.kind, f.result and f.result.ok, f.result and f.result.output) == \
            (event, "child", True, {"ok": 1})
        assert stack.inspector().events(job=child) == []
        assert child_event  # dropped with its job


@reactor_alone
async def test_cancelling_a_parent_cancels_its_child(stack: Stack) -> None:
    async with executor(stack) as ex:
        await ex.start("p")
        child = child_job_id("p", "post")
        call = ChildWait(node="post", job_id=child, digest=ex.digest, name="branches", version=1, start="w")
        await ex.park("p", 0, [call])
        await ex.wake_of(child)
        [running] = (await ex.park(child, 0, [ActivityWait(node="a", activity="child.work")])).events
        await ex.request("cancel", CancelRequest(job_id="p", reason="by hand"))
        job = stack.inspector().job(child)
        assert job is not None and job["status"] == "cancelled", job
        assert job["error"] == "parent job p no longer waits for it"
        deadline = time.monotonic() + 20
        while running not in ex.cancels:
            assert time.monotonic() < deadline, "no cancel notice for the child's activity"
            await asyncio.sleep(0.02)
