"""Soak: many jobs in flight while the executor and the reactor are killed again and again.

Size by ``EE_SOAK_JOBS`` (default 1,000 jobs of 3 activities, the issue's size; raise
it by hand, e.g. ``EE_SOAK_JOBS=20000 make test PYTEST_ARGS=tests/faults/test_soak.py``).
Every kill hits a running, working engine: after each restart the new process
must be ready (its "ready" log line) and more jobs must finish (1 % of them, at
least 5) before the next kill; all jobs are in flight from the start. A machine
fast enough to finish them before the last kill gets more (a quarter of the size
at a time, whenever fewer than that are left), so every kill hits jobs in flight
however fast the engine runs. The counts
and the duration are printed in the terminal summary of ``make test`` (see
``tests/conftest.py``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import pytest

from tests.faults.helpers import assert_at_most_once, assert_chain_outputs, log_entries, sleepy_chain
from tests.support.stack import Service, Stack, poll

JOBS = int(os.environ.get("EE_SOAK_JOBS", "1000"))
ACTIVITIES = 3
ACTIVITY_S = 0.3  # each activity takes this long: the jobs outlast eight restarts
KILLS = ["executor", "executor", "reactor", "executor", "reactor", "executor", "executor", "reactor"]


def completed(stack: Stack, ids: list[str]) -> int:
    client = stack.redis_client()
    pipe = client.pipeline(transaction=False)
    for job_id in ids:
        pipe.hget(f"ee:job:{{{job_id}}}", "status")
    return sum(1 for s in pipe.execute() if s == b"completed")


def progressed(stack: Stack, ids: list[str], at_least: int) -> int:
    """Jobs done, once at least ``at_least`` are (or all are); else 0."""
    done = completed(stack, ids)
    return done if done >= at_least or done == len(ids) else 0


@pytest.mark.timeout(600)
def test_soak_kills_executor_five_times_and_reactor_three_times(
        stack: Stack, record_property: Callable[[str, object], None]) -> None:
    started = time.monotonic()
    services = {"reactor": stack.reactor(), "executor": stack.executor()}
    stack.worker()
    stack.wait_ready()
    workflow = sleepy_chain(ACTIVITIES, ACTIVITY_S)
    ids = stack.submit_many(workflow, [{"v": i} for i in range(JOBS)], "soak")
    reserve = max(1, JOBS // 4)  # jobs left in flight at each kill, topped up when fewer are
    step = max(5, JOBS // 100)  # jobs to finish between a restart and the next kill
    done_at_kill: list[int] = []
    done = 0
    for n, victim in enumerate(KILLS, start=1):
        # Kill a working engine: some jobs finished since the last restart was ready.
        done = poll(lambda since=done: progressed(stack, ids, since + step), 120, 0.02,  # type: ignore[misc]
                    f"{step} more jobs done before kill {n}")
        if len(ids) - done < reserve:
            more = stack.submit_many(workflow, [{"v": i} for i in range(len(ids), len(ids) + reserve)], f"soak{n}")
            ids.extend(more)
            print(f"soak: {reserve} more jobs before kill {n}: {done} of the first {len(ids) - reserve} were done")
        done_at_kill.append(done)
        services[victim].kill()
        killed_at = time.monotonic()
        new: Service = getattr(stack, victim)()
        services[victim] = new
        poll(lambda new=new, victim=victim: log_entries(new, f"{victim} ready"), 60, 0.05,  # type: ignore[misc]
             f"the new {victim} to be ready after kill {n}")
        ready_s = time.monotonic() - killed_at
        done = completed(stack, ids)
        print(f"soak: kill {n} ({victim}) at {killed_at - started:.1f} s with {done_at_kill[-1]}/{len(ids)} jobs done; "
              f"new {victim} ready in {ready_s:.1f} s with {done} done")
    jobs = stack.wait_jobs(ids, timeout=300)
    elapsed = time.monotonic() - started
    assert_chain_outputs(jobs, {jid: {"v": i} for i, jid in enumerate(ids)})
    assert_at_most_once(stack)
    runs = stack.executions()
    assert len(runs) == len(ids) * ACTIVITIES
    summary = (f"soak: {len(ids)} jobs x {ACTIVITIES} activities of {ACTIVITY_S} s ({len(runs)} activity runs, "
               f"none twice) completed "
               f"in {elapsed:.1f} s through {KILLS.count('executor')} executor and {KILLS.count('reactor')} "
               f"reactor SIGKILLs at {', '.join(map(str, done_at_kill))} jobs done")
    record_property("summary", summary)
    print(summary)
