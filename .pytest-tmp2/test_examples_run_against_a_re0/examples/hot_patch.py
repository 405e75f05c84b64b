"""Watch a hot patch: parked jobs finished by a new executor build.

Run: .venv/bin/python examples/hot_patch.py

It starts a private stack (nats-server, redis-server, the reactor and an executor
with EE_BUILD=v1), submits jobs that park on an activity, stops the v1 executor
with SIGTERM while they are parked, starts a v2 executor and only then the demo
worker, and prints which build parked and which resumed each job. The worker
starts last on purpose: until it runs, the activities wait in JetStream and the
jobs stay parked however slow the machine is, so every job is parked by v1 and
finished by v2. Exits 1 if any job was not. Everything it started is stopped at
the end.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import redis

from shared.layout import Keys

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ee.servers import nats_server, redis_server  # noqa: E402

JOBS = 5
FLOW = {"name": "patchable", "version": 1, "start": "work", "nodes": {
    "work": {"kind": "activity", "activity": "demo.sleep", "input": {"seconds": "`1`", "n": "input.n"},
             "output": "done", "next": "end"},
    "end": {"kind": "end", "output": "vars.done.n"}}}


def wait_until(check: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"hot patch example: timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="ee-hot-patch-"))
    nats, red = nats_server(tmp / "nats").start(), redis_server(tmp / "redis").start()
    env = dict(os.environ, EE_NATS_URL=nats.url, EE_REDIS_URL=red.url, EE_LOG_FORMAT="json")
    procs: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(*args: str, **extra: str) -> tuple[subprocess.Popen[bytes], Path]:
        log = tmp / f"{len(procs)}-{args[0]}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", *args], env={**env, **extra}, stdout=out,
                                    stderr=subprocess.STDOUT)
        procs.append((proc, log))
        return proc, log

    def ready(proc: subprocess.Popen[bytes], log: Path) -> bool:
        if proc.poll() is not None:
            raise SystemExit(f"hot patch example: {proc.args} exited {proc.returncode}:\n{log.read_text()[-2000:]}")
        return '"executor ready"' in log.read_text()

    try:
        start("reactor")
        v1, v1_log = start("executor", EE_BUILD="v1")
        wait_until(lambda: ready(v1, v1_log), "the v1 executor to be ready")
        flow = tmp / "flow.json"
        flow.write_text(json.dumps(FLOW))
        ids = [f"hot-patch-{n}" for n in range(JOBS)]
        for n, job_id in enumerate(ids):
            out = subprocess.run([sys.executable, "-m", "ee", "submit", str(flow), "--job-id", job_id,
                                  "--input", json.dumps({"n": n})], env=env, capture_output=True, text=True)
            if out.returncode != 0:
                raise SystemExit(f"hot patch example: ee submit exited {out.returncode}: {out.stderr.strip()}")
        r = redis.Redis.from_url(red.url, decode_responses=True)
        keys = Keys()

        def all_have(status: str) -> bool:
            return all(r.hget(keys.job(j), "status") == status for j in ids)

        # No worker yet: each job parks on its activity and stays parked.
        wait_until(lambda: all_have("parked"), "the jobs to park")
        print(f"{JOBS} jobs parked by build v1; stopping the v1 executor (SIGTERM)")
        v1.send_signal(signal.SIGTERM)
        print(f"v1 exited with {v1.wait(timeout=60)}; starting build v2 while the jobs stay parked")
        v2, v2_log = start("executor", EE_BUILD="v2")
        wait_until(lambda: ready(v2, v2_log), "the v2 executor to be ready")
        print("v2 is up; starting the demo worker: the activities run and v2 resumes each job")
        start("worker", "--demo")
        wait_until(lambda: all_have("completed"), "the jobs to complete")
        wrong = 0
        for job_id in ids:
            history = r.xrange(keys.job_history(job_id))
            parked = next(f["build"] for _, f in history if f["event"] == "parked")
            resumed = next(f["build"] for _, f in history if f["event"] == "resumed")
            print(f"job {job_id}: parked by {parked}, resumed and completed by {resumed}, "
                  f"output {r.hget(keys.job(job_id), 'output')}")
            wrong += not (parked.endswith("+v1") and resumed.endswith("+v2"))
        if wrong:
            print(f"{wrong} jobs were not parked by v1 and finished by v2")
            return 1
        print(f"all {JOBS} jobs parked by v1 were finished by v2")
        return 0
    finally:
        for proc, _ in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc, _ in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        nats.stop()
        red.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
