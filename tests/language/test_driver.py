"""The driver's part of a fork or a call, against a stand-in reactor client (no servers): every
fired event consumed, dropped waits and the failure checkpoint passed on, child waits resolved
to a deployed workflow (looked up once), and a workflow not deployed failing the job."""

from __future__ import annotations

from typing import Any, cast

import msgspec
import pytest

from executor.jobs import JobDriver, WorkflowCache
from shared.errors import WorkflowNotDeployed
from shared.messages import (
    Checkpoint,
    ChildWait,
    DeployedReply,
    DeployedRequest,
    FinishReply,
    FinishRequest,
    FiredEvent,
    ParkReply,
    ParkRequest,
)
from shared.reactor_client import ReactorClient
from shared.workflow import encode_workflow, workflow_digest
from tests.language.sim import failed, flow, ok

pytestmark = pytest.mark.anyio

CHILD = flow({"s": {"kind": "end", "output": "input"}}, start="s")
CHILD_BYTES = encode_workflow(CHILD)


class FakeReactor:
    """Answers park, finish and deployed as the reactor would; records every request."""

    def __init__(self, deployed: dict[tuple[str, int], int]) -> None:
        self.deployed = deployed  # (name, asked version) -> version found
        self.requests: list[tuple[str, msgspec.Struct]] = []

    async def call(self, op: str, request: msgspec.Struct, reply_type: type[Any], *, patience: float = 30.0) -> Any:
        self.requests.append((op, request))
        match request:
            case ParkRequest():
                return ParkReply(fence=request.fence + 1)
            case FinishRequest():
                return FinishReply(fence=request.fence + 1)
            case DeployedRequest():
                version = self.deployed.get((request.name, request.version))
                if version is None:
                    raise WorkflowNotDeployed(request.name, request.version)
                return DeployedReply(name=request.name, version=version, digest=workflow_digest(CHILD_BYTES),
                                     workflow=CHILD_BYTES)
        raise AssertionError(op)

    def sent(self, op: str) -> list[Any]:
        return [r for o, r in self.requests if o == op]


def driver(reactor: FakeReactor) -> tuple[JobDriver, WorkflowCache]:
    client = cast(ReactorClient, reactor)
    cache = WorkflowCache(client)
    return JobDriver(client, "b-1", cache), cache


CALLS = flow({"a": {"kind": "parallel", "output": "o", "next": "e", "branches": {
    "x": {"start": "c", "nodes": {"c": {"kind": "call", "workflow": "child", "next": "e"}, "e": {"kind": "end"}}},
    "y": {"start": "c", "nodes": {"c": {"kind": "call", "workflow": "child", "version": 2, "next": "e"},
                                  "e": {"kind": "end"}}}}},
    "e": {"kind": "end"}})


async def test_child_waits_are_resolved_to_the_deployed_workflow_before_the_park() -> None:
    reactor = FakeReactor({("child", 0): 3, ("child", 2): 2})
    drive, cache = driver(reactor)
    assert await drive.drive("p1", 4, CALLS, Checkpoint(node="a"), {})
    park = reactor.sent("park")[0]
    digest = workflow_digest(CHILD_BYTES)
    assert [(w.node, w.version, w.digest, w.start) for w in park.waits] == [
        ("a.x/c", 3, digest, "s"), ("a.y/c", 2, digest, "s")]
    assert all(isinstance(w, ChildWait) for w in park.waits)
    assert await cache.get(digest) == CHILD  # the child's executor needs no fetch
    # Looked up once: a second job calls the same versions from the cache.
    assert await drive.drive("p2", 1, CALLS, Checkpoint(node="a"), {})
    assert len(reactor.sent("deployed")) == 2


async def test_a_workflow_not_deployed_fails_the_job_naming_the_node_and_the_workflow() -> None:
    reactor = FakeReactor({("child", 0): 3})
    drive, _ = driver(reactor)
    assert await drive.drive("p1", 4, CALLS, Checkpoint(node="a", vars={"v": 1}), {})
    assert not reactor.sent("park")
    finish = reactor.sent("finish")[0]
    assert finish.status == "failed"
    assert finish.error == "node 'a.y/c': no workflow 'child' version 2 is deployed (ee workflow list shows what is)"
    assert finish.checkpoint == Checkpoint(node="a", vars={"v": 1}, steps=1)
    assert finish.history[-1].node == "a.y/c" and finish.history[-1].event == "failed"
    assert "parked" not in [h.event for h in finish.history]


SIBLINGS = flow({"a": {"kind": "parallel", "next": "e", "catch": [{"error": "*", "next": "nap"}], "branches": {
    "x": {"start": "r", "nodes": {"r": {"kind": "activity", "activity": "demo.echo", "next": "e"},
                                  "e": {"kind": "end"}}},
    "y": {"start": "r", "nodes": {"r": {"kind": "activity", "activity": "demo.echo", "next": "e"},
                                  "e": {"kind": "end"}}}}},
    "nap": {"kind": "sleep", "seconds": 1, "next": "e"}, "e": {"kind": "end"}})


async def test_every_fired_event_is_consumed_and_dropped_waits_are_passed_on() -> None:
    reactor = FakeReactor({})
    drive, _ = driver(reactor)
    await drive.drive("j", 1, SIBLINGS, Checkpoint(node="a"), {})
    first = reactor.sent("park")[0]
    ids = {w.node: e for w, e in zip(first.waits, ["j~2.0", "j~2.1"], strict=True)}
    assert first.checkpoint.branches["a.x"].events == [ids["a.x/r"]]
    fired = [FiredEvent(event_id=ids["a.x/r"], branch="a.x", result=failed("boom")),
             FiredEvent(event_id="j~1.7", branch="a.gone", result=ok())]  # of a branch gone: consumed, ignored
    await drive.drive("j", 2, SIBLINGS, first.checkpoint, {}, fired)
    second = reactor.sent("park")[1]
    assert second.consumed == [ids["a.x/r"], "j~1.7"]
    assert second.drop == [ids["a.y/r"]]
    assert [w.node for w in second.waits] == ["nap"]


async def test_a_failed_job_finishes_with_its_top_level_checkpoint() -> None:
    reactor = FakeReactor({})
    drive, _ = driver(reactor)
    wf = flow({"a": {"kind": "set", "vars": {"x": "`1`"}, "next": "b"},
               "b": {"kind": "activity", "activity": "demo.fail", "next": "e"}, "e": {"kind": "end"}})
    await drive.drive("j", 1, wf, Checkpoint(node="a"), {})
    park = reactor.sent("park")[0]
    await drive.drive("j", 2, wf, park.checkpoint, {}, [FiredEvent(event_id="j~2.0", result=failed("no"))])
    finish = reactor.sent("finish")[0]
    assert finish.consumed == ["j~2.0"]
    assert (finish.checkpoint.node, finish.checkpoint.vars) == ("b", {"x": 1})
