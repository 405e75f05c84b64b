"""Results, claims and heartbeats are authentic (issue 9, cases 12, 13 and 16).

Any worker may publish to ``activity.response``, ``activity.claim.>`` and heartbeat
subjects: what it publishes must still not complete an activity it was not given,
fire a signal wait or a timer, keep an attempt from running, or take another bot
out of its pool. These run on the ordinary (unauthenticated) test servers: the
checks are the engine's own, whatever the NATS permissions; tests/security/
test_permissions.py adds what the permissions forbid.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import nats

from shared import names
from shared.messages import ActivityResult, BotHeartbeat, encode
from tests.support.hostile import core_publish, parked_event, the_task
from tests.support.stack import Stack, poll

UNSERVED = {"name": "unserved", "start": "work", "nodes": {
    "work": {"kind": "activity", "activity": "nobody.serves", "input": {"x": "`1`"}, "output": "r",
             "next": "done"},
    "done": {"kind": "end", "output": "vars.r"}}}

SIGNALLED = {"name": "signalled", "start": "wait", "nodes": {
    "wait": {"kind": "wait_signal", "signal": "go", "output": "s", "next": "done"},
    "done": {"kind": "end", "output": "vars.s"}}}


def refusals(stack: Stack) -> list[str]:
    return [d["reason"] for d in stack.inspector().deadletters() if d["subject"] == names.ACTIVITY_RESPONSE]


def forged(event_id: str, attempt: int = 1, token: str = "", output: Any = None) -> bytes:
    return encode(ActivityResult(event_id=event_id, attempt=attempt, ok=True, output=output or {"forged": True},
                                 worker="mallory", token=token))


def test_a_result_needs_the_token_of_its_attempt(engine: Stack) -> None:
    job_id = engine.submit(UNSERVED)
    event = parked_event(engine, job_id)["event_id"]
    task = the_task(engine, "nobody.serves")
    assert task.event_id == event and len(task.token) == 32

    engine.publish(names.ACTIVITY_RESPONSE, forged(event))
    engine.publish(names.ACTIVITY_RESPONSE, forged(event, token="0" * 32))
    engine.publish(names.ACTIVITY_RESPONSE, forged(event, attempt=2, token=task.token))
    poll(lambda: len(refusals(engine)) >= 3 or None, 20, what="three refusals")
    reasons = sorted(refusals(engine))
    assert any("no attempt token" in r for r in reasons), reasons
    assert sum("wrong attempt token" in r for r in reasons) == 2, reasons
    assert all(len(r) < 300 for r in reasons)
    assert engine.job(job_id)["status"] == "parked"  # type: ignore[index]
    assert parked_event(engine, job_id)["status"] == "parked"

    # The worker that was given the task (it knows the token) completes it.
    engine.publish(names.ACTIVITY_RESPONSE, forged(event, token=task.token, output={"real": 1}))
    assert engine.wait_job(job_id)["output"] == {"real": 1}


def test_a_result_never_fires_a_signal_wait(engine: Stack) -> None:
    job_id = engine.submit(SIGNALLED)
    event = parked_event(engine, job_id)["event_id"]
    engine.publish(names.ACTIVITY_RESPONSE, forged(event))
    engine.publish(names.ACTIVITY_RESPONSE, forged(event, token="f" * 32))
    poll(lambda: len(refusals(engine)) >= 2 or None, 20, what="two refusals")
    reasons = refusals(engine)
    assert any("not an activity event" in r for r in reasons), reasons
    assert any("wrong attempt token" in r for r in reasons), reasons
    assert engine.job(job_id)["status"] == "parked"  # type: ignore[index]
    engine.request(names.reactor_subject("signal"), json.dumps(
        {"job_id": job_id, "signal": "go", "data": {"by": "signal"}}).encode())
    assert engine.wait_job(job_id)["output"] == {"by": "signal"}


def test_a_claim_made_ahead_does_not_keep_an_attempt_from_running(engine: Stack) -> None:
    """The claim subject of an attempt derives from its token: one published ahead of the task
    (at the subject older versions used) claims nothing, and every attempt still runs."""
    job_id = "claimed-ahead"
    event = names.event_id_for(job_id, 1, 0)  # the first park's first wait: predictable

    async def claim_ahead() -> None:
        nc = await nats.connect(engine.nats.url)
        try:
            for attempt in (1, 2):
                await nc.jetstream().publish(names.activity_claim_subject(event, attempt), b"mallory",
                                             headers={"Nats-Expected-Last-Subject-Sequence": "0"})
        finally:
            await nc.close()

    asyncio.run(claim_ahead())
    flow = {"name": "flaky", "start": "work", "nodes": {
        "work": {"kind": "activity", "activity": "demo.flaky", "input": {"failures": "`1`"},
                 "retry": {"max_attempts": 2, "backoff_s": 0.1}, "output": "r", "next": "done"},
        "done": {"kind": "end", "output": "vars.r"}}}
    engine.submit(flow, job_id=job_id)
    assert engine.wait_job(job_id)["output"] == {"attempt": 2, "failures": 1}
    assert engine.executions() == {(event, 1): 1, (event, 2): 1}


def test_a_heartbeat_for_another_bot_is_refused(stack: Stack) -> None:
    stack.reactor()
    stack.wait_ready()
    alive = BotHeartbeat(bot="b1", pool="erp", lease_s=60, worker="w1")
    core_publish(stack, names.bot_heartbeat_subject("b1"), encode(alive))

    def bot(name: str) -> dict[str, Any] | None:
        return next((b for b in stack.inspector().bots() if b["bot"] == name), None)

    poll(lambda: (bot("b1") or {}).get("alive") == "1" or None, 20, what="bot b1 alive")
    forged_stop = BotHeartbeat(bot="b1", pool="erp", lease_s=60, worker="mallory", stopping=True)
    core_publish(stack, names.bot_heartbeat_subject("mallory"), encode(forged_stop))
    poll(lambda: any(d["subject"] == names.BOTS_HEARTBEAT and "on the subject of bot 'mallory'" in d["reason"]
                     for d in stack.inspector().deadletters()) or None, 20, what="the forged beat refused")
    assert bot("b1")["alive"] == "1"  # type: ignore[index]
    assert bot("mallory") is None

    core_publish(stack, names.bot_heartbeat_subject("b1"), encode(
        BotHeartbeat(bot="b1", pool="erp", worker="w1", stopping=True)))
    poll(lambda: (bot("b1") or {}).get("alive") == "0" or None, 20, what="b1 out of its pool on its own beat")
