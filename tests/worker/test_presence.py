"""Every worker announces itself (EE_WORKERS): `ee workers` lists it, a stop or a death takes it
off, and a parked activity no live worker serves says so in `ee events` and `ee status`."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import nats
import pytest

from ee.servers import free_port
from ee.workers import unserved_reason
from shared import names
from shared.streams import workers_bucket_config
from tests.support.cli import InProcessEe, StackEe
from tests.support.stack import Stack, poll

NOBODY: dict[str, Any] = {"name": "nobody", "version": 1, "start": "a", "nodes": {
    "a": {"kind": "activity", "activity": "nobody.serves", "output": "r", "next": "done"},
    "done": {"kind": "end"}}}
SERVED: dict[str, Any] = {"name": "served", "version": 1, "start": "a", "nodes": {
    "a": {"kind": "activity", "activity": "demo.sleep", "input": {"seconds": "`3600`"}, "output": "r",
          "next": "done"},
    "done": {"kind": "end"}}}


@pytest.fixture
def ee(ee_main: InProcessEe, tmp_path: Path) -> StackEe:
    """``ee(stack, *args, env=...)``: one command, in this process (tests.support.cli)."""
    return StackEe(ee_main, tmp_path, COLUMNS="250")


def listed(ee: StackEe, stack: Stack) -> list[dict[str, Any]]:
    done = ee(stack, "workers", "--json")
    assert done.returncode == 0, done.stderr
    rows: list[dict[str, Any]] = json.loads(done.stdout)
    return rows


def test_every_worker_is_listed_until_it_stops(stack: Stack, ee: StackEe) -> None:
    assert listed(ee, stack) == []  # no bucket yet: nobody
    plain = stack.worker("--name", "plain-1")
    bot = stack.worker("--name", "bot-worker", "--bot", "b1", "--pool", "p1")
    rows = poll(lambda: (found := listed(ee, stack)) and len(found) == 2 and found, 30, 0.1, "two workers listed")
    by_name = {r["worker"]: r for r in rows}
    assert set(by_name) == {"plain-1", "bot-worker"}
    assert "demo.echo" in by_name["plain-1"]["activities"] and by_name["plain-1"]["bot"] is None
    assert (by_name["bot-worker"]["bot"], by_name["bot-worker"]["pool"]) == ("b1", "p1")
    assert by_name["plain-1"]["pid"] == plain.pid and by_name["plain-1"]["last_seen"].endswith("Z")
    table = ee(stack, "workers")
    assert table.returncode == 0 and "plain-1" in table.stdout and "bot-worker" in table.stdout
    bot.signal(signal.SIGTERM)
    assert bot.proc is not None and bot.proc.wait(timeout=30) == 0
    poll(lambda: [r["worker"] for r in listed(ee, stack)] == ["plain-1"], 10, 0.1, "the stopped bot gone at once")


def short_lived_bucket(stack: Stack, ttl_s: float = 1.5) -> None:
    """The workers bucket made ahead with a short TTL (workers use the one they find)."""
    async def go() -> None:
        nc = await nats.connect(stack.nats.url)
        await nc.jetstream().create_key_value(workers_bucket_config(ttl_s=ttl_s))
        await nc.close()

    asyncio.run(go())


def test_a_live_worker_refreshes_and_a_dead_one_ages_out(stack: Stack, ee: StackEe) -> None:
    short_lived_bucket(stack)
    worker = stack.worker("--name", "mortal")
    first = poll(lambda: listed(ee, stack), 30, 0.1, "the worker listed")[0]
    poll(lambda: (rows := listed(ee, stack)) and rows[0]["last_seen"] != first["last_seen"], 10, 0.1,
         "the announcement written again")
    worker.kill()
    poll(lambda: listed(ee, stack) == [], 10, 0.1, "the killed worker aged out of the bucket")


def test_a_parked_activity_nobody_serves_is_shown_as_such(stack: Stack, ee: StackEe) -> None:
    stack.up()
    lonely = stack.submit(NOBODY, job_id="lonely")
    busy = stack.submit(SERVED, job_id="busy")
    poll(lambda: len(stack.inspector().events(kind="activity")) == 2, 30, 0.05, "both jobs parked")
    done = ee(stack, "events", "--json")
    assert done.returncode == 0, done.stderr
    rows = {e["job"]: e for e in json.loads(done.stdout)}
    assert rows[lonely]["unserved"] == "no live worker serves activity 'nobody.serves'"
    assert "unserved" not in rows[busy]
    table = ee(stack, "events")
    assert "no live worker serves activity" in table.stdout, table.stdout
    status = ee(stack, "status", lonely)
    assert status.returncode == 0 and "unserved" in status.stdout and "nobody.serves" in status.stdout, status.stdout
    shown = json.loads(ee(stack, "status", lonely, "--json").stdout)
    assert [w["activity"] for w in shown["unserved"]] == ["nobody.serves"]
    assert json.loads(ee(stack, "status", busy, "--json").stdout)["unserved"] == []
    # Without NATS the events are still listed, without the hint.
    away = ee(stack, "events", "--json", env={"EE_NATS_URL": f"nats://127.0.0.1:{free_port()}"})
    assert away.returncode == 0 and all("unserved" not in e for e in json.loads(away.stdout)), away.stderr


def test_who_serves_an_event() -> None:
    plain = {"worker": "w1", "activities": ["a.x"], "bot": None}
    bot = {"worker": "w2", "activities": ["a.x", "a.y"], "bot": "b1"}
    parked = {"kind": "activity", "status": "parked"}
    assert unserved_reason({**parked, "activity": "a.x"}, [plain]) is None
    assert unserved_reason({**parked, "activity": "a.y"}, [plain]) == "no live worker serves activity 'a.y'"
    assert unserved_reason({**parked, "activity": "a.y"}, [plain, bot]) is None
    assert unserved_reason({**parked, "activity": "a.x", "bot": "b2"}, [plain, bot]) == \
        "no live worker serves activity 'a.x' as bot 'b2'"
    assert unserved_reason({**parked, "activity": "a.x", "bot": "b1"}, [bot]) is None
    assert unserved_reason({"kind": "activity", "status": "fired", "activity": "a.z"}, []) is None
    assert unserved_reason({"kind": "signal", "status": "parked", "signal": "s"}, []) is None


def test_a_worker_announces_again_once_the_bucket_is_back(stack: Stack, ee: StackEe) -> None:
    short_lived_bucket(stack)
    worker = stack.worker("--name", "stubborn")
    poll(lambda: listed(ee, stack), 30, 0.1, "the worker listed")

    async def drop_bucket() -> None:
        nc = await nats.connect(stack.nats.url)
        await nc.jetstream().delete_key_value(names.WORKERS_BUCKET)
        await nc.close()

    asyncio.run(drop_bucket())
    poll(lambda: [r["worker"] for r in listed(ee, stack)] == ["stubborn"], 20, 0.1, "the worker listed again")
    assert worker.alive() and "worker not announced" in worker.output() and "announced again" in worker.output()
