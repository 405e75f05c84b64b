"""Bot pools and locks: FIFO grants, release on every end, lease lapse."""

from __future__ import annotations

import signal
import subprocess
import sys
from typing import Any

from tests.support.stack import Stack, poll


def on_bot(pool: str, seconds: float = 0.3, fail: bool = False) -> dict[str, Any]:
    work: dict[str, Any] = {"kind": "activity", "activity": "demo.fail" if fail else "demo.sleep",
                            "input": {"seconds": f"`{seconds}`", "message": "'bot job broke'"},
                            "on_bot": True, "output": "worked", "next": "free"}
    return {"name": "botjob", "start": "lock", "nodes": {
        "lock": {"kind": "lock_bot", "pool": pool, "output": "bot", "next": "work"},
        "work": work,
        "free": {"kind": "unlock_bot", "next": "done"},
        "done": {"kind": "end", "output": "vars.bot.bot"}}}


def bot(stack: Stack, name: str, pool: str) -> Any:
    return stack.worker("--bot", name, "--pool", pool)


def wait_bot(stack: Stack, name: str, alive: str = "1") -> None:
    poll(lambda: any(b["bot"] == name and b.get("alive") == alive for b in stack.inspector().bots()), 20,
         what=f"bot {name} alive={alive}")


def granted_order(stack: Stack, job_ids: list[str]) -> list[str]:
    times = {}
    for job_id in job_ids:
        history = stack.inspector().job(job_id)["history"]  # type: ignore[index]
        times[job_id] = next(h["at"] for h in history if h["event"] == "fired" and h["node"] == "lock")
    return sorted(job_ids, key=lambda j: times[j])


def test_three_jobs_one_bot_granted_first_come_first_served(engine: Stack) -> None:
    bot(engine, "solo", "erp")
    wait_bot(engine, "solo")
    ids = []
    for i in range(3):
        ids.append(engine.submit(on_bot("erp"), job_id=f"fifo-{i}"))
        engine.wait_job(ids[-1], statuses=("parked",))
        poll(lambda: engine.inspector().events(job=ids[-1]), 10)
    jobs = engine.wait_jobs(ids, timeout=60)
    assert all(j["status"] == "completed" and j["output"] == "solo" for j in jobs.values())
    assert granted_order(engine, ids) == ids
    bots = engine.inspector().bots()
    assert bots[0]["holder"] == ""


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
    import json

    rows = json.loads(out.stdout)
    assert rows[0]["bot"] == "v1" and rows[0]["pool"] == "view" and rows[0]["holder"] == holder
    assert rows[0]["waiting"] and rows[0]["waiting"][0].startswith(waiter)
    found = subprocess.run([sys.executable, "-m", "ee", "events", "--json", "--kind", "bot_lock", "--pool", "view"],
                           env=engine.env(), capture_output=True, text=True, timeout=30, check=True)
    assert [e["job"] for e in json.loads(found.stdout)] == [waiter]
