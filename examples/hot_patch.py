"""Watch a hot patch: parked jobs finished by a new executor build.

Run: .venv/bin/python examples/hot_patch.py

It starts a private stack (nats-server, redis-server, reactor, the demo worker and
an executor with EE_BUILD=v1), submits jobs that park on a 3-second activity,
stops the v1 executor with SIGTERM while they are parked, starts a v2 executor,
and prints which build resumed each job. Everything it started is stopped at the end.
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
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ee.servers import nats_server, redis_server  # noqa: E402

FLOW = {"name": "patchable", "version": 1, "start": "work", "nodes": {
    "work": {"kind": "activity", "activity": "demo.sleep", "input": {"seconds": "`3`", "n": "input.n"},
             "output": "done", "next": "end"},
    "end": {"kind": "end", "output": "vars.done.n"}}}


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="ee-hot-patch-"))
    nats, red = nats_server(tmp / "nats").start(), redis_server(tmp / "redis").start()
    env = dict(os.environ, EE_NATS_URL=nats.url, EE_REDIS_URL=red.url, EE_LOG_FORMAT="json")
    procs: list[subprocess.Popen[bytes]] = []

    def start(*args: str, **extra: str) -> subprocess.Popen[bytes]:
        log = (tmp / f"{len(procs)}-{args[0]}.log").open("wb")
        proc = subprocess.Popen([sys.executable, "-m", *args], env={**env, **extra}, stdout=log, stderr=log)
        procs.append(proc)
        return proc

    try:
        start("reactor")
        start("worker", "--demo")
        v1 = start("executor", EE_BUILD="v1")
        flow = tmp / "flow.json"
        flow.write_text(json.dumps(FLOW))
        ids = []
        for n in range(5):
            out = subprocess.run([sys.executable, "-m", "ee", "submit", str(flow), "--input", json.dumps({"n": n})],
                                 env=env, capture_output=True, text=True, check=False)
            if out.returncode != 0:
                time.sleep(0.5)
                out = subprocess.run([sys.executable, "-m", "ee", "submit", str(flow), "--input",
                                      json.dumps({"n": n})], env=env, capture_output=True, text=True, check=True)
            ids.append(out.stdout.strip())
        r = redis.Redis.from_url(red.url, decode_responses=True)
        deadline = time.monotonic() + 30
        while any(r.hget(f"ee:job:{{{j}}}", "status") != "parked" for j in ids):
            if time.monotonic() > deadline:
                raise SystemExit("jobs did not park")
            time.sleep(0.1)
        print(f"{len(ids)} jobs parked by build v1; stopping the v1 executor (SIGTERM)")
        v1.send_signal(signal.SIGTERM)
        print(f"v1 exited with {v1.wait(timeout=60)}; starting build v2 while the jobs stay parked")
        start("executor", EE_BUILD="v2")
        deadline = time.monotonic() + 60
        while any(r.hget(f"ee:job:{{{j}}}", "status") != "completed" for j in ids):
            if time.monotonic() > deadline:
                raise SystemExit("jobs did not complete")
            time.sleep(0.1)
        for job_id in ids:
            history = r.xrange(f"ee:job:{{{job_id}}}:history")
            parked = next(f["build"] for _, f in history if f["event"] == "parked")
            resumed = next(f["build"] for _, f in history if f["event"] == "resumed")
            print(f"job {job_id}: parked by {parked}, resumed and completed by {resumed}, "
                  f"output {r.hget(f'ee:job:{{{job_id}}}', 'output')}")
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        nats.stop()
        red.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
