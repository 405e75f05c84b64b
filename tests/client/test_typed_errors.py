"""Typed errors end to end: what the reactor raises, a client raises, same class, same words,
same attributes (``shared.error_replies``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import nats
import pytest

import ee
from shared import errors, names
from shared.error_replies import error_from_reply, error_reply, known_errors
from shared.errors import (
    EngineError,
    EventNotFound,
    EventNotParked,
    ForeignEvent,
    InboxFull,
    InvalidMessage,
    InvalidName,
    JobFinished,
    JobNotFound,
    ReactorError,
    StaleFence,
)
from shared.messages import (
    CancelReply,
    CancelRequest,
    Checkpoint,
    EventOp,
    EventOpReply,
    FinishReply,
    FinishRequest,
    JobView,
    ParkReply,
    ParkRequest,
    SignalReply,
    SignalRequest,
    TimerWait,
    WorkflowReply,
    WorkflowRequest,
)
from shared.reactor_client import ReactorClient
from tests.support.stack import Stack, poll
from tests.workflows import sleeper

# One of each class the reactor can name; a class added without a sample here fails the test.
SAMPLES: list[EngineError] = [
    errors.EngineError("plain"),
    errors.ConfigError("EE_X", object(), "not a thing"),
    errors.InvalidWorkflow("n", "next", "names unknown node 'x'"),
    errors.UnreadableWorkflow("n", "kind", "unknown kind 'z'"),
    errors.InvalidMessage("ee.reactor.park", "bad"),
    errors.InvalidName("job", "a b", "invalid job id 'a b'"),
    errors.JobNotFound("j1"),
    errors.JobFinished("j1", "completed"),
    errors.InboxFull("j1", "go", 100),
    errors.SignalInboxOverBudget("j1", "go", 10, 20, 25),
    errors.OverLimit("job state", 5, 4, "too big"),
    errors.PayloadTooLarge("job state", 5, 4),
    errors.NestedTooDeep("job state", 64),
    errors.SubjectTooLong("a" * 100, 64),
    errors.StaleFence("j1", 1, 2),
    errors.ReactorError("500", "park failed: KeyError"),
    errors.EngineUnavailable("Redis", "down"),
    errors.CredentialsRefused("NATS at nats://u:***@h:4222", "authorization violation"),
    errors.LeaseLost("3:reactor-a", "reactor-b"),
    errors.EventNotFound("j1~1.0"),
    errors.EventNotParked("j1~1.0", "fired"),
    errors.ForeignEvent("j1", "j2~1.0"),
    errors.EventInBackoff("j1~1.0", 2, 1.5),
    errors.JobWaitTimeout("j1", "parked", 3.0),
    errors.StackNotFound("no stack file"),
    errors.JobIdInUse("j1", "parked", "nap v2", "input"),
    errors.WorkflowNotDeployed("invoice", 2),
    errors.NotPermitted("publish", "jobs.execute"),
    errors.VersionTaken("invoice", 3, "9f2c"),
    errors.JobNotFailed("j1", "completed"),
    errors.UnknownNode("j1", "zz", ["a", "b"]),
    errors.NotRetryable("j1", "it never started"),
    errors.TaskNotFound("j1~1.0"),
    errors.NotATask("j1~1.0", "timer"),
    errors.TaskCompleted("j1~1.0", "alice", "2026-12-03T12:00:00Z"),
    errors.TaskClaimed("j1~1.0", "alice", "2026-12-03T12:00:00Z"),
    errors.TaskClosed("j1~1.0", "fired"),
    errors.FormRefused("j1~1.0", "amount", "-5 is less than the minimum of 0"),
]


def public(exc: BaseException) -> dict[str, Any]:
    return {k: v for k, v in vars(exc).items() if not k.startswith("_")}


def test_every_class_has_a_sample() -> None:
    assert {type(e).__name__ for e in SAMPLES} == set(known_errors())


@pytest.mark.parametrize("sent", SAMPLES, ids=lambda e: type(e).__name__)
def test_an_error_reply_rebuilds_the_error(sent: EngineError) -> None:
    code, description, headers, body = error_reply(sent)
    got = error_from_reply({names.ERROR_CODE_HEADER: code, names.ERROR_HEADER: description, **headers}, body)
    assert type(got) is type(sent)
    assert str(got) == str(sent) and got.code == sent.code
    want = public(sent)
    if isinstance(sent, errors.ConfigError):
        want["value"] = repr(sent.value)  # JSON cannot hold it: its repr travels
    assert public(got) == want


def test_a_reply_without_a_known_class_is_a_reactor_error() -> None:
    """An unexpected failure, a reactor older than typed replies, a class this build lacks."""
    for extra in ({}, {names.ERROR_TYPE_HEADER: "ErrorOfANewerBuild"}):
        got = error_from_reply({names.ERROR_CODE_HEADER: "409", names.ERROR_HEADER: "stale fence", **extra}, b"")
        assert type(got) is ReactorError
        assert (got.code, got.description, str(got)) == ("409", "stale fence", "stale fence")


def test_attributes_in_a_reply_cannot_replace_methods() -> None:
    headers = {names.ERROR_CODE_HEADER: "404", names.ERROR_HEADER: "unknown job 'j'",
               names.ERROR_TYPE_HEADER: "JobNotFound"}
    got = error_from_reply(headers, msgspec.json.encode({"job_id": "j", "with_traceback": 1, "_x": 2}))
    assert isinstance(got, JobNotFound) and public(got) == {"job_id": "j"}
    assert callable(got.with_traceback)


def raised(stack: Stack, call: Callable[[ReactorClient], Awaitable[Any]]) -> EngineError:
    """The error a ReactorClient raised for ``call`` against the stack's reactor."""
    async def go() -> EngineError:
        nc = await nats.connect(stack.nats.url)
        try:
            await call(ReactorClient(nc))
        except EngineError as exc:
            return exc
        finally:
            await nc.close()
        raise AssertionError("the reactor accepted it")

    return asyncio.run(go())


def test_each_refusal_of_the_reactor_reaches_the_client_as_its_class(engine: Stack) -> None:
    job_id = engine.submit(sleeper(3600), {})
    engine.wait_job(job_id, statuses=("parked",))
    [event] = poll(lambda: engine.inspector().events(job=job_id), 20, what="the sleep to park")
    checkpoint = Checkpoint(node="nap")

    unknown = raised(engine, lambda c: c.call("inspect", SignalRequest(job_id="nobody", signal="s"), JobView))
    assert isinstance(unknown, JobNotFound) and unknown.job_id == "nobody"

    stale = raised(engine, lambda c: c.call("park", ParkRequest(
        job_id=job_id, fence=0, checkpoint=checkpoint, waits=[TimerWait(node="nap", seconds=1)]), ParkReply))
    assert isinstance(stale, StaleFence) and (stale.job_id, stale.fence, stale.current) == (job_id, 0, 1)

    foreign = raised(engine, lambda c: c.call("park", ParkRequest(
        job_id=job_id, fence=1, checkpoint=checkpoint, consumed=["other~1.0"]), ParkReply))
    assert isinstance(foreign, ForeignEvent) and foreign.event_id == "other~1.0"

    bad_name = raised(engine, lambda c: c.call("signal", SignalRequest(job_id="a b", signal="s"), SignalReply))
    assert isinstance(bad_name, InvalidName) and (bad_name.kind, bad_name.value) == ("job", "a b")

    no_workflow = raised(engine, lambda c: c.call("workflow", WorkflowRequest(digest="nope"), WorkflowReply))
    assert isinstance(no_workflow, InvalidMessage) and no_workflow.subject == "ee.reactor.workflow"

    no_event = raised(engine, lambda c: c.call("event", EventOp(event_id=f"{job_id}~9.9", op="resolve"),
                                                EventOpReply))
    assert isinstance(no_event, EventNotFound) and no_event.event_id == f"{job_id}~9.9"

    full = raised(engine, lambda c: _fill_inbox(c, job_id))
    assert isinstance(full, InboxFull) and (full.job_id, full.signal, full.limit) == (job_id, "later", 100)

    for service in engine.services:  # no executor to consume the event once it fired
        if service.name == "executor":
            service.kill()

    async def resolve_twice(c: ReactorClient) -> None:
        for _ in range(2):
            await c.call("event", EventOp(event_id=event["event_id"], op="resolve"), EventOpReply)

    fired = raised(engine, resolve_twice)
    assert isinstance(fired, EventNotParked) and (fired.event_id, fired.status) == (event["event_id"], "fired")

    async def cancel_then_finish(c: ReactorClient) -> None:
        await c.call("cancel", CancelRequest(job_id=job_id), CancelReply)
        await c.call("finish", FinishRequest(job_id=job_id, fence=1, status="failed"), FinishReply)

    finished = raised(engine, cancel_then_finish)
    assert isinstance(finished, JobFinished) and (finished.job_id, finished.status) == (job_id, "cancelled")


async def _fill_inbox(client: ReactorClient, job_id: str) -> None:
    for _ in range(101):
        await client.call("signal", SignalRequest(job_id=job_id, signal="later"), SignalReply)


def test_the_public_client_raises_the_reactors_class(engine: Stack) -> None:
    async def go() -> None:
        async with ee.Client(engine.nats.url, engine.redis.url, redis_prefix=engine.prefix) as client:
            handle = await client.submit(sleeper(0.01), {})
            assert (await handle.result(timeout=30)).status == "completed"
            with pytest.raises(JobFinished) as finished:
                await handle.signal("late")
            assert (finished.value.job_id, finished.value.status) == (handle.job_id, "completed")

    asyncio.run(go())
