"""Bot pools and locks: FIFO grants, release on every end, lease lapse."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from typing import Any

import nats

from shared import names
from shared.names import event_job
from tests.support.stack import Stack, poll


def on_bot(pool: str, seconds: float = 0.3, fail: bool = False, retry: dict[str, Any] | None = None,
           hold: bool = False) -> dict[str, Any]:
    """Lock a bot of ``pool``, run an activity on it, unlock. With ``hold``, the job waits for
    signal ``go`` while it holds the bot, before the on-bot activity."""
    work: dict[str, Any] = {"kind": "activity", "activity": "demo.fail" if fail else "demo.sleep",
                            "input": {"seconds": f"`{seconds}`", "message": "'bot job broke'"},
                            "on_bot": True, "output": "worked", "next": "free"}
    if retry is not None:
        work["retry"] = retry
    return {"name": "botjob", "start": "lock", "nodes": {
        "lock": {"kind": "lock_bot", "pool": pool, "output": "bot", "next": "hold" if hold else "work"},
        "hold": {"kind": "wait_signal", "signal": "go", "next": "work"},
        "work": work,
        "free": {"kind": "unlock_bot", "next": "done"},
        "done": {"kind": "end", "output": "vars.bot.bot"}}}


def send_signal(stack: Stack, job_id: str, name: str = "go") -> None:
    reply = stack.request("ee.reactor.signal", json.dumps({"job_id": job_id, "signal": name}).encode())
    assert not (reply.headers and reply.headers.get("Nats-Service-Error")), reply.headers


def history(stack: Stack, job_id: str) -> list[dict[str, str]]:
    return stack.inspector().job(job_id)["history"]  # type: ignore[index,no-any-return]


def bot(stack: Stack, name: str, pool: str) -> Any:
    return stack.worker("--bot", name, "--pool", pool)


def wait_bot(stack: Stack, name: str, alive: str = "1") -> None:
    poll(lambda: any(b["bot"] == name and b.get("alive") == alive for b in stack.inspector().bots()), 20,
         what=f"bot {name} alive={alive}")


def tasks_waiting(stack: Stack, subject_filter: str) -> dict[str, int]:
    """Tasks held in the activities stream, by subject."""
    async def go() -> dict[str, int]:
        nc = await nats.connect(stack.nats.url)
        try:
            info = await nc.jetstream().stream_info(names.STREAM_ACTIVITIES, subjects_filter=subject_filter)
            return dict(info.state.subjects or {})
        finally:
            await nc.close()

    return asyncio.run(go())


def granted_order(stack: Stack, job_ids: list[str]) -> list[str]:
    times = {}
    for job_id in job_ids:
        history = stack.inspector().job(job_id)["history"]  # type: ignore[index]
        times[job_id] = next(h["at"] for h in history if h["event"] == "fired" and h["node"] == "lock")
    return sorted(job_ids, key=lambda j: times[j])


def test_three_jobs_one_bot_granted_first_come_first_served(engine: Stack) -> None:
    bot(engine, "solo", "erp")
    wait_bot(engine, "solo")
    flow = on_bot("erp", seconds=0.1, hold=True)  # each job holds the bot until it gets signal "go"
    ids = [engine.submit(flow, job_id="fifo-0")]
    poll(lambda: engine.inspector().bots()[0]["holder"] == ids[0], 20, what="the first job to hold the bot")

    def waiting() -> int:
        return len(engine.inspector().bots()[0]["waiting"])

    for i in (1, 2):
        ids.append(engine.submit(flow, job_id=f"fifo-{i}"))
        poll(lambda: waiting() == len(ids) - 1, 20, what=f"{i} jobs to wait")
    [row] = engine.inspector().bots()
    assert row["holder"] == "fifo-0"
    assert [event_job(e) for e in row["waiting"]] == ["fifo-1", "fifo-2"]
    for job_id in ids:  # the jobs still waiting for the bot keep it in their inbox
        send_signal(engine, job_id)
    jobs = engine.wait_jobs(ids, timeout=60)
    assert all(j["status"] == "completed" and j["output"] == "solo" for j in jobs.values()), jobs
    assert granted_order(engine, ids) == ids
    [row] = engine.inspector().bots()
    assert row["holder"] == "" and row["waiting"] == []
    assert engine.event_index_keys() == {}


def test_lock_released_when_the_job_fails_and_when_cancelled(engine: Stack) -> None:
    bot(engine, "b1", "rpa")
    wait_bot(engine, "b1")
    failed = engine.submit(on_bot("rpa", fail=True))
    assert engine.wait_job(failed)["status"] == "failed"
    assert engine.inspector().bots()[0]["holder"] == ""
    holder = engine.submit(on_bot("rpa", seconds=30))
    poll(lambda: engine.inspector().bots()[0]["holder"] == holder, 20, what="the lock")
    waiter = engine.submit(on_bot("rpa", seconds=0.1))
    poll(lambda: engine.inspector().bots()[0]["waiting"], 20, what="the second job to wait")
    out = subprocess.run([sys.executable, "-m", "ee", "cancel", holder], env=engine.env(), capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert engine.wait_job(waiter)["status"] == "completed"
    assert engine.inspector().bots()[0]["holder"] == ""
    assert engine.event_index_keys() == {}


def test_bot_lease_lapse_takes_it_out_and_fails_its_activity(engine: Stack) -> None:
    b = bot(engine, "fragile", "ocr")
    wait_bot(engine, "fragile")
    job_id = engine.submit(on_bot("ocr", seconds=60))
    poll(lambda: engine.inspector().bots()[0]["holder"] == job_id, 20, what="the lock")
    poll(lambda: engine.executions(), 20, what="the activity to start")
    b.signal(signal.SIGKILL)
    job = engine.wait_job(job_id, timeout=60)
    assert job["status"] == "failed"
    assert "bot fragile lost" in job["error"]
    wait_bot(engine, "fragile", alive="0")


def test_ee_bots_shows_pools_holders_and_waiters(engine: Stack) -> None:
    bot(engine, "v1", "view")
    wait_bot(engine, "v1")
    holder = engine.submit(on_bot("view", seconds=30))
    poll(lambda: engine.inspector().bots()[0]["holder"] == holder, 20)
    waiter = engine.submit(on_bot("view"))
    poll(lambda: engine.inspector().bots()[0]["waiting"], 20)
    out = subprocess.run([sys.executable, "-m", "ee", "bots", "--json"], env=engine.env(), capture_output=True,
                         text=True, timeout=30, check=True)

    rows = json.loads(out.stdout)
    assert rows[0]["bot"] == "v1" and rows[0]["pool"] == "view" and rows[0]["holder"] == holder
    assert rows[0]["waiting"] and rows[0]["waiting"][0].startswith(waiter)
    found = subprocess.run([sys.executable, "-m", "ee", "events", "--json", "--kind", "bot_lock", "--pool", "view"],
                           env=engine.env(), capture_output=True, text=True, timeout=30, check=True)
    assert [e["job"] for e in json.loads(found.stdout)] == [waiter]

    def on_v1() -> list[tuple[str, str]]:
        out = subprocess.run([sys.executable, "-m", "ee", "events", "--json", "--bot", "v1"],
                             env=engine.env(), capture_output=True, text=True, timeout=30, check=True)
        return [(e["job"], e["kind"]) for e in json.loads(out.stdout)]

    assert poll(on_v1, 20, what="the holder's activity on v1") == [(holder, "activity")]


def test_bot_lost_under_a_retry_policy_fails_each_attempt_then_the_job(engine: Stack) -> None:
    """The retry of an on-bot activity whose bot is gone is not sent to the dead bot: it fails too."""
    b = bot(engine, "brittle", "scan")
    wait_bot(engine, "brittle")
    job_id = engine.submit(on_bot("scan", seconds=60, retry={"max_attempts": 3, "backoff_s": 0.2}))
    poll(lambda: engine.executions(), 20, what="the activity to start")
    b.kill()
    job = engine.wait_job(job_id, timeout=60)
    assert job["status"] == "failed", job
    assert job["error"].endswith("failed: bot brittle is not alive (attempt 3)"), job
    retries = [h["detail"] for h in history(engine, job_id) if h["event"] == "retry"]
    assert retries == ["attempt 1 failed: bot brittle lost: lease lapsed",
                       "attempt 2 failed: bot brittle is not alive (attempt 2)"]
    assert sorted(a for (_, a) in engine.executions()) == [1]
    [row] = engine.inspector().bots()
    assert row["alive"] == "0" and row["holder"] == ""
    assert engine.inspector().events(job=job_id) == []
    assert engine.event_index_keys() == {}


def test_bot_dead_when_the_on_bot_activity_parks_fails_it_per_its_policy(engine: Stack) -> None:
    b = bot(engine, "gone", "ledger")
    wait_bot(engine, "gone")
    job_id = engine.submit(on_bot("ledger", retry={"max_attempts": 2, "backoff_s": 0.1}, hold=True))
    poll(lambda: engine.inspector().events(job=job_id, kind="signal"), 20, what="the job to hold the bot")
    b.kill()
    wait_bot(engine, "gone", alive="0")
    send_signal(engine, job_id)
    job = engine.wait_job(job_id, timeout=30)
    assert job["status"] == "failed", job
    assert job["error"].endswith("failed: bot gone is not alive (attempt 2)"), job
    retries = [h["detail"] for h in history(engine, job_id) if h["event"] == "retry"]
    assert retries == ["attempt 1 failed: bot gone is not alive (attempt 1)"]
    assert engine.executions() == {}
    # No task went to the dead bot for either attempt: were it to come back, it would find none.
    assert tasks_waiting(engine, names.bot_activity_subject("gone", ">")) == {}
