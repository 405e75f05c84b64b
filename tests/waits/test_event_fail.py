"""`ee event fail` on any kind of wait fails that wait, which fails its node and so the job."""

from __future__ import annotations

import functools
import subprocess
import sys
from typing import Any

from tests.support.stack import Stack, poll
from tests.support.status_index import assert_status_indexes_match


def one_wait(node: dict[str, Any]) -> dict[str, Any]:
    return {"name": "waits", "start": "wait", "nodes": {
        "wait": {**node, "next": "done"}, "done": {"kind": "end", "output": "'went on'"}}}


WAITS = {
    # An activity no worker serves, so nothing runs it while it is failed by hand.
    "activity": one_wait({"kind": "activity", "activity": "nobody.serves", "timeout_s": 3600}),
    "timer": one_wait({"kind": "sleep", "seconds": 3600}),
    "signal": one_wait({"kind": "wait_signal", "signal": "go", "timeout_s": 3600}),
    "bot_lock": one_wait({"kind": "lock_bot", "pool": "empty", "timeout_s": 3600}),
}


def test_event_fail_fails_every_kind_of_wait(engine: Stack) -> None:
    inspector = engine.inspector()
    jobs = {kind: engine.submit(workflow) for kind, workflow in WAITS.items()}
    for kind, job_id in jobs.items():
        [event] = poll(functools.partial(inspector.events, job=job_id), 20, what=f"the {kind} wait to park")
        assert event["kind"] == kind
        out = subprocess.run([sys.executable, "-m", "ee", "event", "fail", event["event_id"], "--error",
                              f"{kind} given up by hand", "--by", "alice"], env=engine.env(),
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == f"event {event['event_id']}: fired"
    for kind, job_id in jobs.items():
        job = engine.wait_job(job_id)
        assert job["status"] == "failed", (kind, job)
        assert job["error"].startswith("node 'wait': ") and job["error"].endswith(f"{kind} given up by hand")
        history = inspector.job(job_id)["history"]  # type: ignore[index]
        assert [(h["event"], h["detail"]) for h in history if h["event"] in ("fired", "failed")] == [
            ("fired", "operator fail by alice"), ("failed", job["error"])]
    assert engine.event_index_keys() == {}
    assert assert_status_indexes_match(engine.redis_client(), engine.prefix) == {"failed": set(jobs.values())}
    assert {j["job_id"] for j in inspector.jobs(10, "failed")} == set(jobs.values())
