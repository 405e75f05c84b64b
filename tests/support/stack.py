"""A private engine for tests: real servers and real service processes, killed by PID."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import nats
import redis
from nats.js.errors import NoStreamResponseError
from redis import Redis

from ee.inspect import Inspector
from ee.processes import Child
from ee.servers import ServerProcess, free_port
from shared import names

T = TypeVar("T")

FINAL = ("completed", "failed", "cancelled")


def text(value: object) -> str:
    """A Redis reply that must be a string (bytes, the clients here do not decode), as text."""
    assert isinstance(value, bytes), value
    return value.decode()


def scored(reply: object) -> dict[str, float]:
    """A ``ZRANGE ... WITHSCORES`` reply as member text to score."""
    assert isinstance(reply, list), reply
    return {text(member): float(score) for member, score in reply}


def poll(check: Callable[[], T | Literal[False] | None], timeout: float = 20.0, interval: float = 0.02,
         what: str = "") -> T:
    """Call ``check`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or check}")
        time.sleep(interval)


@dataclass
class Service(Child):
    """A service of the engine the test started (python -m reactor, ...): a child process like
    every other one (ee.processes), signalled by its own PID, its output in its own log."""

    ops_port: int = 0  # its /healthz and /metrics, when the stack serves them (``Stack.ops``)

    def healthz(self) -> int:
        """The HTTP status of its ``/healthz`` (0 when nothing answers)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.ops_port}/healthz", timeout=5) as reply:
                return int(reply.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except OSError:
            return 0


@dataclass
class Stack:
    nats: ServerProcess
    redis: ServerProcess
    workdir: Path
    prefix: str = "ee:"
    extra_env: dict[str, str] = field(default_factory=dict)
    services: list[Service] = field(default_factory=list)
    ops: bool = False  # give each service started its own /healthz port (``Service.ops_port``)

    @property
    def ledger(self) -> Path:
        return self.workdir / "ledger.jsonl"

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(EE_NATS_URL=self.nats.url, EE_REDIS_URL=self.redis.url, EE_REDIS_PREFIX=self.prefix,
                   EE_DEMO_LEDGER=str(self.ledger), EE_LOG_FORMAT="json", EE_WAKE_LEASE_S="2",
                   EE_SHUTDOWN_GRACE_S="10", EE_ACTIVITY_ACK_WAIT_S="5", EE_BOT_LEASE_S="2", EE_JOBS_ACK_WAIT_S="3",
                   EE_REACTOR_LEASE_S="3")
        env.update(self.extra_env)
        env.update(extra)
        return env

    def start(self, module: str, *args: str, **env: str) -> Service:
        return self.start_build(None, module, *args, **env)

    def start_build(self, cwd: Path | None, module: str, *args: str, **env: str) -> Service:
        """Run ``python -m module`` of the build whose source tree ``cwd`` is (None: this one)."""
        index = len(self.services)
        port = free_port() if self.ops else 0
        if port:
            env = {"EE_OPS_PORT": str(port), **env}
        service = Service(module, [sys.executable, "-m", module, *args], self.workdir / f"{index:02d}-{module}.log",
                          env=self.env(**env), cwd=cwd, ops_port=port).start()
        self.services.append(service)
        return service

    def reactor(self, **env: str) -> Service:
        return self.start("reactor", **env)

    def executor(self, **env: str) -> Service:
        return self.start("executor", **env)

    def worker(self, *args: str, **env: str) -> Service:
        return self.start("worker", "--demo", *args, **env)

    def up(self) -> Stack:
        self.reactor()
        self.executor()
        self.worker()
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 30) -> None:
        """Ready when the running services are: the reactor answers, the executor's and the
        demo worker's consumers exist."""
        running = {s.name for s in self.services if s.alive()}

        async def check() -> bool:
            nc = await nats.connect(self.nats.url)
            try:
                js = nc.jetstream()
                if "reactor" in running:
                    await nc.request(names.reactor_subject("inspect"), b'{"job_id":"ready-probe"}', timeout=1)
                if "executor" in running:
                    await js.consumer_info(names.STREAM_JOBS, names.CONSUMER_EXECUTOR_JOBS)
                if "worker" in running:
                    await js.consumer_info(names.STREAM_ACTIVITIES, names.activity_consumer("demo.echo"))
                return True
            except Exception:
                return False
            finally:
                await nc.close()

        def ready() -> bool:
            for service in self.services:
                code = None if service.proc is None else service.proc.poll()
                if code not in (None, 0, -9):
                    raise AssertionError(f"{service.name} exited {code}:\n{service.output()[-3000:]}")
            return asyncio.run(check())

        poll(ready, timeout, 0.1, "the engine to be ready")

    def stop_all(self) -> None:
        for service in reversed(self.services):
            if service.alive():
                service.kill()

    # -- clients --------------------------------------------------------------

    def redis_client(self) -> Redis:
        return redis.Redis.from_url(self.redis.url, socket_timeout=5)

    def inspector(self) -> Inspector:
        return Inspector(self.redis_client(), self.prefix)

    def event_index_keys(self) -> dict[str, int]:
        """Every event index that holds something (per kind, activity, pool, bot), with its size:
        empty once no event is open. A scan of the keyspace: for tests only."""
        client = self.redis_client()
        found = {}
        for pattern in ("events:*", "activity:*:events", "pool:*:events", "bot-events:*"):
            for key in client.scan_iter(match=self.prefix + pattern, count=1000):
                found[key.decode()] = int(client.zcard(key))
        return found

    def publish(self, subject: str, data: bytes, headers: dict[str, str] | None = None) -> None:
        """Publish to a stream; while no service has created the stream yet, try again."""
        async def go() -> None:
            nc = await nats.connect(self.nats.url)
            deadline = time.monotonic() + 20
            try:
                while True:
                    try:
                        await nc.jetstream().publish(subject, data, headers=headers, timeout=10)
                        return
                    except NoStreamResponseError:
                        if time.monotonic() > deadline:
                            raise
                        await asyncio.sleep(0.05)
            finally:
                await nc.close()

        asyncio.run(go())

    def task_token(self, activity: str, event_id: str, attempt: int = 1) -> str:
        """The attempt token of a task the reactor dispatched and nobody consumed (read from its
        stream), for a test that plays the worker: a result must carry it back."""
        async def go() -> str:
            nc = await nats.connect(self.nats.url)
            try:
                msg = await nc.jetstream().get_last_msg(names.STREAM_ACTIVITIES, names.activity_subject(activity))
                task = json.loads(msg.data or b"{}")
                return str(task["token"]) if (task["event_id"], task["attempt"]) == (event_id, attempt) else ""
            except Exception:
                return ""
            finally:
                await nc.close()

        return poll(lambda: asyncio.run(go()), 20, what=f"the task of {event_id} attempt {attempt}")

    def request(self, subject: str, data: bytes, timeout: float = 5) -> Any:
        async def go() -> Any:
            nc = await nats.connect(self.nats.url)
            try:
                return await nc.request(subject, data, timeout=timeout)
            finally:
                await nc.close()

        return asyncio.run(go())

    def submit(self, workflow: dict[str, Any], job_input: dict[str, Any] | None = None,
               job_id: str | None = None) -> str:
        job_id = job_id or f"job-{time.monotonic_ns()}"
        body = {"workflow": workflow, "input": job_input or {}, "job_id": job_id}
        self.publish(names.JOBS_EXECUTE, json.dumps(body).encode(), {"Nats-Msg-Id": job_id})
        return job_id

    def submit_many(self, workflow: dict[str, Any], inputs: list[dict[str, Any]], prefix: str) -> list[str]:
        ids = [f"{prefix}-{i}" for i in range(len(inputs))]

        async def go() -> None:
            nc = await nats.connect(self.nats.url)
            js = nc.jetstream()
            deadline = time.monotonic() + 20
            while True:
                try:
                    await js.stream_info(names.STREAM_JOBS)
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.05)
            try:
                futures = [await js.publish_async(
                    names.JOBS_EXECUTE, json.dumps({"workflow": workflow, "input": inp, "job_id": jid}).encode(),
                    headers={"Nats-Msg-Id": jid}) for jid, inp in zip(ids, inputs, strict=True)]
                await asyncio.gather(*futures)
            finally:
                await nc.close()

        asyncio.run(go())
        return ids

    def job(self, job_id: str) -> dict[str, Any] | None:
        return self.inspector().job(job_id)

    def wait_job(self, job_id: str, timeout: float = 30, statuses: tuple[str, ...] = FINAL) -> dict[str, Any]:
        inspector = self.inspector()

        def done() -> dict[str, Any] | None:
            job = inspector.job(job_id, history=False)
            return job if job is not None and job.get("status") in statuses else None

        return poll(done, timeout, 0.02, f"job {job_id} to reach {statuses}")

    def wait_jobs(self, job_ids: list[str], timeout: float = 120) -> dict[str, dict[str, Any]]:
        client = self.redis_client()
        keys = Inspector(client, self.prefix).keys
        pending = set(job_ids)

        def done() -> bool:
            pipe = client.pipeline(transaction=False)
            ordered = sorted(pending)
            for jid in ordered:
                pipe.hget(keys.job(jid), "status")
            for jid, status in zip(ordered, pipe.execute(), strict=True):
                if status is not None and status.decode() in FINAL:
                    pending.discard(jid)
            return not pending

        poll(done, timeout, 0.1, f"{len(pending)} jobs to finish")
        inspector = Inspector(client, self.prefix)
        return {jid: inspector.job(jid, history=False) or {} for jid in job_ids}

    def executions(self) -> Counter[tuple[str, int]]:
        """How many times the demo worker started each (event id, attempt)."""
        counts: Counter[tuple[str, int]] = Counter()
        if self.ledger.exists():
            for line in self.ledger.read_text().splitlines():
                if line.strip():
                    row = json.loads(line)
                    counts[(row["event_id"], int(row["attempt"]))] += 1
        return counts
