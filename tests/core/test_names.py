"""One name rule per kind of name, checked at every entry point; stored and wire values encoded;
key families that cannot collide; a park that touches only its own job's events.

The rules are unit-tested per kind; the Lua steps are driven through the reactor's own scripts
(no services); the entry points are probed on a running reactor and executor, and one job with
an id of every allowed character runs end to end through ``ee submit --wait``."""

from __future__ import annotations

import asyncio
import json
import random
import string
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis.asyncio as aioredis

from reactor.outcomes import Fired, Foreign, Kept, Parked, WakeData
from reactor.store import Store
from shared.config import Settings
from shared.errors import InvalidName, InvalidWorkflow
from shared.messages import BotLockWait, SignalWait, Wake
from shared.names import EVENT_KINDS, Keys
from shared.naming import RULES, check_name, is_valid_name
from shared.workflow import decode_workflow
from tests.support.bad_input import assert_each_refused
from tests.support.cli import InProcessEe
from tests.support.hostile import core_publish, error_of
from tests.support.scripts import Driver, fired
from tests.support.stack import Stack, poll
from worker import demo
from worker.sdk import Worker

# Ids that wedged a job before the rule (they broke every wake's JSON) or break a key or subject.
HOSTILE_JOB_IDS = ['a"b', "a\\b", "a\rb", "a\x00b", "a\nb", "a~1", "{a}", "a b", ".a", "a..b", "a*", "x" * 129]
EVERY_JOB_CHARACTER = string.ascii_letters + string.digits + "._:-"


# -- the rules, per kind ----------------------------------------------------------

RULE_CASES: dict[str, tuple[list[str], list[str]]] = {
    "job": ([EVERY_JOB_CHARACTER, "j", "a.b", "job-17", "a:b", "a.", "x" * 128], [*HOSTILE_JOB_IDS, ""]),
    "event": (["job-1~3.0", f"{EVERY_JOB_CHARACTER}~123456789012.999999"],
              ["job-1", "job-1~3", "job-1~a.0", 'a"b~1.0', "a~b~1.0", "~1.0", "a~1.0\n"]),
    "signal": (["approval", "a.b:c-d_e"], ["", "a\nb", "a b", 'a"', "a~b", "s" * 129]),
    "activity": (["demo.echo", "erp.post_invoice", "a-b.c_d.e", "a" * 128],
                 ["", "bot.echo", "a..b", ".a", "a.", "a b", "a*", "a.>", "a:b", "a/b", "a" * 129]),
    "bot": (["b1", "bot-7", "A_b"], ["", "X:events", "a.b", "a,b", "a b", "{a}", "a*", "b" * 65]),
    "pool": (["erp", "erp.eu-1"], ["", "a:b", "a b", "a,b", "{p}", "p" * 65]),
    "workflow": (["invoice", "post_invoice.v2:eu"], ["", "a b", "a@2", "w" * 129]),
    "limit": (["erp", "erp.eu-1"], ["", "a:b", "l" * 65]),
    "schedule": (["nightly", "nightly.eu-1"], ["", "a:b", "a b", "s" * 65]),
    "node": (["fetch", "each[3]/run", "a node, with spaces"], ["", "a\nb", "a\x00", "n" * 129]),
}


def test_every_kind_has_a_rule_and_a_case() -> None:
    assert set(RULES) == set(RULE_CASES)


@pytest.mark.parametrize("kind", sorted(RULE_CASES))
def test_each_kind_accepts_its_names_and_refuses_the_rest(kind: str) -> None:
    good, bad = RULE_CASES[kind]
    for value in good:
        assert check_name(kind, value) == value  # type: ignore[arg-type]
    for value in bad:
        assert not is_valid_name(kind, value), (kind, value)  # type: ignore[arg-type]
        with pytest.raises(InvalidName) as caught:
            check_name(kind, value)  # type: ignore[arg-type]
        assert caught.value.kind == kind and caught.value.value == value


def test_the_error_names_the_kind_the_value_cut_short_and_the_rule() -> None:
    with pytest.raises(InvalidName) as caught:
        check_name("job", 'a"b')
    assert str(caught.value) == ("invalid job id 'a\"b': must be 1 to 128 characters of [A-Za-z0-9._:-]; "
                                 "not starting with '.' nor holding '..'.")
    with pytest.raises(InvalidName) as caught:
        check_name("bot", "X:events")
    assert str(caught.value) == "invalid bot name 'X:events': must be 1 to 64 characters of [A-Za-z0-9_-]."
    with pytest.raises(InvalidName) as caught:
        check_name("activity", "a" * 5000)
    message = str(caught.value)
    assert message.startswith("invalid activity name '" + "a" * 40 + "...' (5000 characters): must be 1 to 128")
    assert len(message) < 300
    assert isinstance(caught.value, ValueError)  # the SDK's callers catch ValueError


def test_key_families_cannot_collide() -> None:
    """Every key of every family, over thousands of valid names dense in separators: all distinct."""
    rng = random.Random(9)
    alphabets = {"job": "ab:.-_~{}", "bot": "ab-_", "pool": "ab.-_", "activity": "ab._-"}

    def names(kind: str, n: int = 1500) -> set[str]:
        found = {"events", "free", "bots", "waiting", "leases", "a", "a:events", "a.events", "events:a"}
        while len(found) < n:
            found.add("".join(rng.choice(alphabets[kind]) for _ in range(rng.randint(1, 12))))
        return {v for v in found if is_valid_name(kind, v)}  # type: ignore[arg-type]

    keys = Keys("ee:")
    jobs, bots, pools, activities = names("job"), names("bot"), names("pool"), names("activity")
    built: dict[str, tuple[str, str]] = {}

    def add(family: str, name: str, key: str) -> None:
        other = built.setdefault(key, (family, name))
        assert other == (family, name), f"{family}({name!r}) and {other[0]}({other[1]!r}) are both {key!r}"

    for fixed in ("timers", "wakes", "dispatch", "jobs", "deadletter", "stranded", "bots", "bot_leases", "deployed",
                  "queue_seq", "limits"):
        add(fixed, "", getattr(keys, fixed))
    for j in jobs:
        for family in ("job", "job_events", "job_history", "job_inbox"):
            add(family, j, getattr(keys, family)(j))
        add("event", j, keys.event(f"{j}~1.0"))
    for family, values in (("bot", bots), ("bot_events", bots), ("pool_bots", pools), ("pool_free", pools),
                           ("pool_waiting", pools), ("pool_queue", pools), ("pool_events", pools),
                           ("activity_events", activities),
                           ("event_index", set(EVENT_KINDS)), ("workflow", {"0123abcd", "events"}),
                           ("deployed_workflow", {"invoice", "a:b", "events", "x.y-z"})):
        for value in values:
            add(family, value, getattr(keys, family)(value))
    assert len(built) > 10_000


def test_a_wake_encodes_every_string_it_carries() -> None:
    wake = WakeData(job_id='a"b\\', fence=3, checkpoint='{"node":"n"}', digest='d"', input="{}",
                    event_id='a"b\\\r\x00~3.0', kind='k"\n', result='{"ok":true}')
    decoded = msgspec.json.decode(wake.encode(), type=Wake)
    assert (decoded.job_id, decoded.digest, decoded.event_id, decoded.kind) == (
        'a"b\\', 'd"', 'a"b\\\r\x00~3.0', 'k"\n')


def flow(**node: Any) -> dict[str, Any]:
    return {"name": "names", "start": "n", "nodes": {"n": {"next": "done", **node},
                                                      "done": {"kind": "end"}}}


@pytest.mark.parametrize(("workflow", "where"), [
    (flow(kind="activity", activity="a" * 129), "node 'n', field 'activity': invalid activity name"),
    (flow(kind="activity", activity="bot.echo"), "node 'n', field 'activity': invalid activity name"),
    (flow(kind="activity", activity="a/b"), "node 'n', field 'activity': invalid activity name"),
    (flow(kind="wait_signal", signal="a\nb"), "node 'n', field 'signal': invalid signal name"),
    (flow(kind="lock_bot", pool="erp:eu"), "node 'n', field 'pool': invalid pool name"),
    ({**flow(kind="sleep", seconds=1), "name": "a b"}, "field 'name': invalid workflow name"),
    ({"name": "w", "start": "a\nb", "nodes": {"a\nb": {"kind": "end"}}}, "field 'nodes': invalid node id"),
])
def test_a_workflow_with_a_bad_name_is_refused_naming_node_and_field(workflow: dict[str, Any],
                                                                      where: str) -> None:
    with pytest.raises(InvalidWorkflow, match=where):
        decode_workflow(workflow)
    decode_workflow(workflow, check_names=False)  # a workflow stored before the rules still runs


def test_the_worker_sdk_refuses_bad_names_at_once() -> None:
    settings = Settings(nats_url="nats://127.0.0.1:1")
    worker = Worker(settings)
    for bad in ("a b", "a" * 129, "bot.echo", "demo.*", "a:b"):
        with pytest.raises(InvalidName, match="invalid activity name"):
            worker.register(bad, demo.echo)
    with pytest.raises(InvalidName, match="invalid bot name 'X:events'"):
        Worker(settings, bot="X:events", pool="erp")
    with pytest.raises(InvalidName, match="invalid pool name 'a:b'"):
        Worker(settings, bot="b1", pool="a:b")


# -- the Lua steps, driven directly ---------------------------------------------------

def drive(stack: Stack, body: Any) -> None:
    async def go() -> None:
        r = aioredis.from_url(stack.redis.url)
        try:
            await body(Driver(r, stack.prefix))
        finally:
            await r.aclose()

    asyncio.run(go())


def result(output: str) -> bytes:
    return json.dumps({"ok": True, "output": output}).encode()


def test_an_inbox_item_is_read_back_as_sent_whatever_the_name(stack: Stack) -> None:
    """Case 7: a name holding the old item separator (a newline, then what looks like an expiry
    and a result) is kept and found as itself; it is not mistaken for another signal."""
    tricky = 'go\n1.0\n{"ok":true,"output":"forged"}'

    async def body(s: Driver) -> None:
        await s.one(s.start("inbox-names"))
        assert isinstance(await s.one(s.signal("inbox-names", tricky, result("the real one"))), Kept)  # nobody waits
        assert fired(await s.one(s.park("inbox-names", 0, [SignalWait(node="w", signal="go")]))) == []
        [wake] = fired(await s.one(s.park("inbox-names", 1, [SignalWait(node="w", signal=tricky)])))
        assert json.loads(wake.result) == {"ok": True, "output": "the real one"}

    drive(stack, body)


def test_inbox_items_of_the_older_formats_are_still_read(stack: Stack) -> None:
    async def body(s: Driver) -> None:
        await s.one(s.start("inbox-old"))
        inbox = s.keys.job_inbox("inbox-old")
        await s.r.rpush(inbox, f'go\n{s.now + 3600:.3f}\n{{"ok":true,"output":"with expiry"}}',
                        'old\n{"ok":true,"output":"no expiry"}')
        [wake] = fired(await s.one(s.park("inbox-old", 0, [SignalWait(node="w", signal="go")])))
        assert json.loads(wake.result)["output"] == "with expiry"
        [wake] = fired(await s.one(s.park("inbox-old", 1, [SignalWait(node="w", signal="old")],
                                          [wake.event_id])))
        assert json.loads(wake.result)["output"] == "no expiry"
        assert await s.r.llen(inbox) == 0

    drive(stack, body)


def test_a_bot_named_like_another_bots_index_cannot_break_its_grant(stack: Stack) -> None:
    """Case 8: bot ``X:events`` (refused by the rule today; here written the way an old version
    let it in) once owned bot X's event index as its hash, and X's next grant failed halfway."""
    async def body(s: Driver) -> None:
        await s.one(s.heartbeat("X:events", "other"))
        await s.one(s.heartbeat("X", "erp"))
        await s.one(s.start("wants-x"))
        [wake] = fired(await s.one(s.park("wants-x", 0, [BotLockWait(node="w", pool="erp")])))
        assert json.loads(wake.result)["output"] == {"bot": "X", "pool": "erp"}
        assert await s.r.hget(s.keys.bot("X"), "holder") == b"wants-x"
        assert await s.r.zrange(s.keys.bot_events("X"), 0, -1) == [wake.event_id.encode()]
        assert await s.r.type(s.keys.bot("X:events")) == b"hash"  # the other bot, untouched

    drive(stack, body)


def test_old_bot_indexes_move_to_their_own_family_at_start(stack: Stack) -> None:
    async def body(s: Driver) -> None:
        store = Store(s.r, s.keys, 2.0, direct=True)
        await s.one(s.heartbeat("b1", "erp"))
        await s.one(s.heartbeat("b1:events", "erp"))  # an old bot whose hash is at b1's old index key
        await s.one(s.heartbeat("b2", "erp"))
        await s.r.zadd(s.keys.legacy_bot_events("b2"), {"j~1.0": 5.0, "j~1.1": 6.0})
        await s.r.zadd(s.keys.bot_events("b2"), {"j~1.1": 7.0})
        assert await store.migrate_bot_indexes() == 1
        assert await s.r.zrange(s.keys.bot_events("b2"), 0, -1, withscores=True) == [(b"j~1.0", 5.0),
                                                                                     (b"j~1.1", 6.0)]
        assert await s.r.exists(s.keys.legacy_bot_events("b2")) == 0
        assert await s.r.type(s.keys.bot("b1:events")) == b"hash"
        assert await store.migrate_bot_indexes() == 0  # idempotent
        store.close()  # a store never run: close its call queue

    drive(stack, body)


def test_a_park_consuming_another_jobs_event_is_refused_and_that_wait_survives(stack: Stack) -> None:
    """Case 9."""
    async def body(s: Driver) -> None:
        await s.one(s.start("victim"))
        await s.one(s.start("thief"))
        assert isinstance(await s.one(s.park("victim", 0, [SignalWait(node="w", signal="go")])), Parked)
        event = "victim~1.0"
        assert await s.one(s.park("thief", 0, [], consumed=[event])) == Foreign(event=event)
        assert await s.r.hget(s.keys.event(event), "status") == b"parked"
        assert await s.r.smembers(s.keys.job_events("victim")) == {event.encode()}
        assert await s.r.hget(s.keys.job("thief"), "fence") == b"0"  # nothing written for the thief
        assert isinstance(await s.one(s.signal("victim", "go", result("still waiting"))), Fired)  # fires as before

    drive(stack, body)


# -- the entry points ---------------------------------------------------------------

def test_hostile_names_are_refused_at_every_entry_point(stack: Stack) -> None:
    """Case 6 (and 7, 8, 9 at their endpoints): each refusal is a clear 400 or a dead letter,
    nothing is recorded, and the services go on serving."""
    stack.reactor()
    stack.executor()
    stack.wait_ready()
    for job_id in HOSTILE_JOB_IDS:
        for op, body in (("start", {"job_id": job_id, "workflow": "", "digest": "d", "name": "w", "version": 1,
                                    "start": "a"}),
                         ("signal", {"job_id": job_id, "signal": "go"}),
                         ("cancel", {"job_id": job_id}),
                         ("inspect", {"job_id": job_id})):
            code, text = error_of(stack.request(f"ee.reactor.{op}", json.dumps(body).encode()))
            assert (code, text[:16]) == ("400", "invalid job id '"), (op, job_id, text)
        code, text = error_of(stack.request("ee.reactor.event", json.dumps(
            {"event_id": f"{job_id}~1.0", "op": "resolve"}).encode()))
        assert (code, text[:18]) == ("400", "invalid event id '"), (job_id, text)
    code, text = error_of(stack.request("ee.reactor.signal", b'{"job_id": "j", "signal": "a\\nb"}'))
    assert code == "400" and text.startswith("invalid signal name 'a\\nb'"), text
    start = {"job_id": "thief", "workflow": "", "digest": "d", "name": "w", "version": 1, "start": "a"}
    assert error_of(stack.request("ee.reactor.start", json.dumps(start).encode())) == ("", "")
    code, text = error_of(stack.request("ee.reactor.park", json.dumps(
        {"job_id": "thief", "fence": 0, "checkpoint": {"node": "w"}, "consumed": ["victim~1.0"]}).encode()))
    assert (code, text) == ("400", "park of job 'thief' refused: event 'victim~1.0' is not one of its own "
                                   "(a job consumes only its own events)")

    chain = {"name": "ok", "start": "done", "nodes": {"done": {"kind": "end", "output": "'ok'"}}}
    for job_id in HOSTILE_JOB_IDS:
        stack.publish("jobs.execute", json.dumps({"workflow": chain, "job_id": job_id}).encode())
    # Heartbeats are core NATS (no stream): published as a bot would.
    core_publish(stack, "bots.heartbeat", json.dumps({"bot": "X:events", "pool": "erp"}).encode())

    def letters() -> list[dict[str, str]]:
        return stack.inspector().deadletters(100)

    rows = poll(lambda: (len(letters()) > len(HOSTILE_JOB_IDS)) and letters(), 30, what="the dead letters")
    reasons = [r["reason"] for r in rows if r["subject"] == "jobs.execute"]
    assert len(reasons) == len(HOSTILE_JOB_IDS) and all("invalid job id" in r for r in reasons), reasons
    [beat] = [r for r in rows if r["subject"] == "bots.heartbeat"]
    assert "invalid bot name 'X:events'" in beat["reason"]
    client = stack.redis_client()
    assert set(client.scan_iter(match=stack.prefix + "job:*")) == {b"ee:job:{thief}", b"ee:job:{thief}:history"}
    assert client.exists(Keys(stack.prefix).bot("X:events")) == 0


def test_a_job_whose_id_holds_every_allowed_character_completes(stack: Stack, tmp_path: Path) -> None:
    """End to end through ``ee submit --job-id``: a sleep parks it, a timer wakes it (the wake
    carries its event id), the end finishes it."""
    stack.reactor()
    stack.executor()
    stack.wait_ready()
    path = tmp_path / "nap.json"
    path.write_text(json.dumps({"name": "nap", "start": "nap", "nodes": {
        "nap": {"kind": "sleep", "seconds": 0.05, "next": "done"},
        "done": {"kind": "end", "output": "'woke'"}}}))
    out = subprocess.run([sys.executable, "-m", "ee", "submit", str(path), "--job-id", EVERY_JOB_CHARACTER,
                          "--wait", "--json", "--timeout", "30"], env=stack.env(), capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert (result["job_id"], result["status"], result["output"]) == (EVERY_JOB_CHARACTER, "completed", "woke")
    history = stack.inspector().job(EVERY_JOB_CHARACTER)["history"]  # type: ignore[index]
    assert [h["event"] for h in history].count("fired") == 1


# The command line refuses a bad name before it connects: NATS and Redis point nowhere here.
BAD_NAMES_CLI = [
    (["submit", "{file}", "--job-id", 'a"b'], "Invalid value for '--job-id': invalid job id 'a\"b'"),
    (["submit", "{file}", "--job-id", "a\rb"], "invalid job id 'a\\rb'"),
    (["signal", "j1", "a\nb"], "Invalid value for 'NAME': invalid signal name 'a\\nb'"),
    (["signal", "a\x01b", "go"], "Invalid value for 'JOB_ID': invalid job id"),
    (["cancel", "a b"], "invalid job id 'a b'"),
    (["events", "--job", "{x}"], "Invalid value for '--job': invalid job id '{x}'"),
    (["events", "--bot", "X:events"], "Invalid value for '--bot': invalid bot name 'X:events'"),
    (["events", "--pool", "a:b"], "invalid pool name 'a:b'"),
    (["events", "--activity", "a b"], "invalid activity name 'a b'"),
    (["event", "resolve", "not-an-event"], "invalid event id 'not-an-event'"),
]


def test_the_cli_refuses_bad_names_in_one_line_and_exit_2(tmp_path: Path, ee_main: InProcessEe) -> None:
    ok = json.dumps({"name": "ok", "start": "done", "nodes": {"done": {"kind": "end"}}})
    assert_each_refused(ee_main, tmp_path, [(ok if "{file}" in args else None, args, words)
                                            for args, words in BAD_NAMES_CLI])
