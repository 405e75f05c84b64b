"""The shipped NATS permissions (deploy/nats/auth.conf) run the engine and forbid the rest (issue 9,
cases 14, 15, 16, 17 and 19).

One nats-server runs on exactly the shipped file (its passwords from the environment, as the
file reads them), one redis-server with the exact ``ACL SETUSER`` line of docs/security.md;
reactor, executor, demo worker and bot ``b1`` each connect as their own user with their own
inbox prefix. Jobs complete, a bot's included, without a single permissions violation by a
service; then real connections as each user try what their role does not allow, and each
attempt gets the server's permissions violation and delivers nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import nats
import nats.errors
import pytest
import redis
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig

from ee.inspect import Inspector
from ee.servers import ServerProcess, free_port, nats_server, redis_server
from shared import names
from shared import streams as shared_streams
from shared.config import MAX_PAYLOAD_BYTES
from shared.consume import durable_push
from shared.errors import EngineUnavailable
from tests.deploy.test_entrypoints import stop, wait_ready
from tests.support.cli import InProcessEe, Ran
from tests.support.stack import poll
from worker import streams as worker_streams

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "security.md"
CONF = ROOT / "deploy" / "nats" / "auth.conf"
USERS = ("reactor", "executor", "worker", "bot-b1", "client", "operator")

pytestmark = pytest.mark.skipif(not (ROOT / "reactor" / "__main__.py").exists(), reason="services not built yet")

T = TypeVar("T")

BOT_JOB = {"name": "on-bot", "start": "lock", "nodes": {
    "lock": {"kind": "lock_bot", "pool": "erp", "output": "bot", "next": "work"},
    "work": {"kind": "activity", "activity": "demo.echo", "on_bot": True, "input": {"on": "vars.bot.bot"},
             "output": "worked", "next": "free"},
    "free": {"kind": "unlock_bot", "next": "done"},
    "done": {"kind": "end", "output": "vars.worked"}}}

SIGNALLED = {"name": "signalled", "start": "wait", "nodes": {
    "wait": {"kind": "wait_signal", "signal": "go", "output": "s", "next": "done"},
    "done": {"kind": "end", "output": "vars.s"}}}


def section_block(heading: str, language: str = "") -> str:
    """The first fenced block under ``## heading`` of docs/security.md."""
    text = DOC.read_text()
    section = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    found = re.search(rf"```{language}\n(.*?)```", section, re.S)
    assert found, f"no code block under '{heading}' in {DOC}"
    return found[1]


def password_variable(user: str) -> str:
    """The environment variable of ``user``'s password in deploy/nats/auth.conf."""
    return "NATS_PASSWORD_" + user.upper().replace("-", "_")


def password(user: str) -> str:
    return f"test-{user}-secret"


@dataclass
class Engine:
    nats: ServerProcess
    redis: ServerProcess
    root: Path
    logs: dict[str, Path] = field(default_factory=dict)
    run: InProcessEe | None = None

    def url(self, user: str) -> str:
        return f"nats://{user}:{password(user)}@127.0.0.1:{self.nats.port}"

    def env(self, user: str, ops_port: int = 0) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EE_")}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        env.update(EE_NATS_URL=self.url(user), EE_NATS_INBOX_PREFIX=f"_INBOX_{user}",
                   EE_REDIS_URL=f"redis://engine:CHANGE-ME@127.0.0.1:{self.redis.port}/0",
                   EE_OPS_PORT=str(ops_port))
        return env

    def ee(self, user: str, *args: str) -> Ran:
        """``ee`` as ``user``, run in the test's process (``ee_main``, bound by the ``engine`` fixture)."""
        assert self.run is not None, "use the engine fixture, which binds ee_main"
        return self.run(*args, env=self.env(user), cwd=self.root)

    def violations(self) -> list[str]:
        return [line for line in (self.nats.data_dir / "nats.log").read_text().splitlines() if "Violation" in line]

    def service_logs(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text()[-1500:]}" for log in self.logs.values())


@pytest.fixture
def engine(module_engine: Engine, ee_main: InProcessEe) -> Engine:
    """The module's engine, its ``ee`` run through ``ee_main`` of this test."""
    module_engine.run = ee_main
    return module_engine


@pytest.fixture(scope="module")
def module_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    root = tmp_path_factory.mktemp("least-privilege")
    nats = nats_server(root / "nats", extra=["-c", str(CONF)],
                       env={password_variable(user): password(user) for user in USERS}).start()
    with ExitStack() as stack:
        stack.callback(nats.stop)
        store = redis_server(root / "redis").start()
        stack.callback(store.stop)
        acl = [line for line in section_block("Redis ACL").splitlines() if line.startswith("ACL SETUSER")]
        assert len(acl) == 1, acl
        with redis.Redis(port=store.port) as admin:
            admin.execute_command(*shlex.split(acl[0]))
        engine = Engine(nats, store, root)
        procs = []
        for name, user, args in (("reactor", "reactor", ["reactor"]), ("executor", "executor", ["executor"]),
                                 ("worker", "worker", ["worker", "--demo"]),
                                 ("bot", "bot-b1", ["worker", "--demo", "--bot", "b1", "--pool", "erp"])):
            port, log = free_port(), root / f"{name}.log"
            engine.logs[name] = log
            with log.open("wb") as out:
                proc = subprocess.Popen([sys.executable, "-m", *args], env=engine.env(user, port), stdout=out,
                                        stderr=subprocess.STDOUT, cwd=root)
            stack.callback(_kill_if_running, proc)
            wait_ready(proc, port, log)
            procs.append((proc, log))
        yield engine
        for proc, log in reversed(procs):
            assert stop(proc, log) == 0, log.read_text()[-3000:]


def _kill_if_running(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_the_document_shows_exactly_the_shipped_config() -> None:
    """One source of truth: docs/security.md shows deploy/nats/auth.conf verbatim."""
    assert section_block("NATS permissions per service") == CONF.read_text()


def test_each_service_as_its_own_user_runs_jobs_without_a_violation(engine: Engine) -> None:
    submit = engine.ee("client", "submit", str(ROOT / "examples" / "invoice.json"),
                       "--input", '{"amount": 1200, "customer": "ACME"}', "--wait", "--timeout", "60")
    assert submit.code == 0, f"{submit.out}\n{submit.err}\n{engine.service_logs()}"
    assert "ACME" in submit.out, submit.out

    workflow = engine.root / "on-bot.json"
    workflow.write_text(json.dumps(BOT_JOB))
    on_bot = engine.ee("client", "submit", str(workflow), "--wait", "--timeout", "60", "--json")
    assert on_bot.code == 0, f"{on_bot.out}\n{on_bot.err}\n{engine.service_logs()}"
    assert json.loads(on_bot.out)["output"] == {"on": "b1"}, on_bot.out

    # Nor may a worker submit (refused by the server, said so in one line).
    refused = engine.ee("worker", "submit", str(ROOT / "examples" / "invoice.json"))
    assert refused.code == 2, refused.out + refused.err
    assert "may not publish 'jobs.execute'" in refused.err, refused.err

    # The read-only commands work in the reactor's container (as its user).
    for args in (("jobs",), ("events",), ("workers",)):
        read = engine.ee("reactor", *args)
        assert read.code == 0, read.out + read.err

    # A user that forgot its inbox prefix hears no reply at all: told so at once.
    lost = subprocess.run([sys.executable, "-m", "ee", "signal", "nobody", "go"], capture_output=True, text=True,
                          env={**engine.env("client"), "EE_NATS_INBOX_PREFIX": ""}, cwd=engine.root, timeout=60,
                          check=False)
    assert lost.returncode == 2 and "may not subscribe to '_inbox." in lost.stderr.lower(), lost.stderr
    assert "EE_NATS_INBOX_PREFIX" in lost.stderr, lost.stderr

    listed = engine.ee("client", "workers", "--json")
    assert listed.code == 0, listed.out + listed.err
    assert {w.get("bot") for w in json.loads(listed.out)} >= {None, "b1"}, listed.out

    # No service and no ee command needed anything beyond its permissions (the probes below
    # connect as "probe <user>"), but for the worker's submit and the forgotten prefix.
    assert [line for line in engine.violations()
            if "probe" not in line and "user:worker" not in line and "_INBOX." not in line] == []


# ---- denials, each over a real connection ------------------------------------------------------

class Probe:
    """A connection as one user, keeping the errors the server sends it."""

    def __init__(self, nc: NATS, errors: list[str]) -> None:
        self.nc = nc
        self.errors = errors

    async def refused(self, action: str, subject: str, within: float = 5.0) -> None:
        """The server reported a permissions violation for ``action`` (Publish, Subscription) to ``subject``."""
        wanted = f'permissions violation for {action} to "{subject}"'.lower()
        await poll_async(lambda: any(wanted in e.lower() for e in self.errors), within,
                         f"a violation for {action} to {subject} (got {self.errors})")


async def poll_async(check: Callable[[], bool], within: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.02)


async def probe(engine: Engine, user: str) -> Probe:
    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))

    nc = await nats.connect(engine.url(user), name=f"probe {user}", inbox_prefix=f"_INBOX_{user}",
                            error_cb=on_error, max_reconnect_attempts=0, connect_timeout=5)
    return Probe(nc, errors)


def run(engine: Engine, users: tuple[str, ...], body: Callable[..., Awaitable[T]]) -> T:
    """``body(*probes)`` with one probe connection per user, closed afterwards."""
    async def go() -> T:
        probes = [await probe(engine, user) for user in users]
        try:
            return await body(*probes)
        finally:
            for p in probes:
                await p.nc.close()

    return asyncio.run(go())


def test_a_worker_cannot_purge_or_delete_a_stream(engine: Engine) -> None:
    """Case 14: no ``$JS.API.>``; the jobs stream and the claims the workers wrote stay."""
    assert engine.ee("client", "submit", str(ROOT / "examples" / "invoice.json"), "--input",
                     '{"amount": 5, "customer": "Z"}', "--wait", "--timeout", "60").code == 0

    async def body(worker: Probe, operator: Probe) -> None:
        before = {s: await operator.nc.jetstream().stream_info(s) for s in (names.STREAM_JOBS,)}
        js = worker.nc.jetstream(timeout=0.5)
        claims = (await js.stream_info(names.STREAM_CLAIMS)).state.messages
        assert claims > 0
        for stream in (names.STREAM_JOBS, names.STREAM_CLAIMS):
            with pytest.raises(nats.errors.TimeoutError):
                await js.purge_stream(stream)
            await worker.refused("publish", f"$JS.API.STREAM.PURGE.{stream}")
            with pytest.raises(nats.errors.TimeoutError):
                await js.delete_stream(stream)
            await worker.refused("publish", f"$JS.API.STREAM.DELETE.{stream}")
        with pytest.raises(nats.errors.TimeoutError):
            await js.delete_consumer(names.STREAM_JOBS, names.CONSUMER_EXECUTOR_JOBS)
        await worker.refused("publish", f"$JS.API.CONSUMER.DELETE.{names.STREAM_JOBS}."
                                        f"{names.CONSUMER_EXECUTOR_JOBS}")
        # Nor may it take the jobs or a bot's tasks with a consumer of its own.
        with pytest.raises(nats.errors.TimeoutError):
            await js.add_consumer(names.STREAM_ACTIVITIES, ConsumerConfig(
                name="thief", durable_name="thief", filter_subject="activity.execute.bot.b1.>"))
        await worker.refused("publish", "$JS.API.CONSUMER.CREATE.EE_ACTIVITIES.thief.activity.execute.bot.b1.>")
        assert (await js.stream_info(names.STREAM_CLAIMS)).state.messages == claims
        after = await operator.nc.jetstream().stream_info(names.STREAM_JOBS)
        assert after.created == before[names.STREAM_JOBS].created  # the same stream, never deleted

    run(engine, ("worker", "operator"), body)


def test_nobody_reads_another_users_replies(engine: Engine) -> None:
    """Case 15: each user subscribes to its own inbox prefix only."""
    async def body(worker: Probe, client: Probe) -> None:
        spies = [await worker.nc.subscribe(subject) for subject in ("_INBOX_client.>", "_INBOX.>", ">")]
        for subject in ("_INBOX_client.>", "_INBOX.>", ">"):
            await worker.refused("subscription", subject)
        reply = await client.nc.request(names.reactor_subject("inspect"), b'{"job_id": "nobody"}', timeout=10)
        assert reply.headers and reply.headers.get("Nats-Service-Error-Code") == "404", reply
        await worker.nc.flush()  # anything routed to the worker with the reply has arrived by now
        assert [spy.pending_msgs for spy in spies] == [0, 0, 0]

    run(engine, ("worker", "client"), body)


def test_no_heartbeat_for_another_bot(engine: Engine) -> None:
    """Case 16: a bot beats on its own subject only; a plain worker on none."""
    async def body(listener: Probe, bot: Probe, worker: Probe) -> None:
        heard: list[bytes] = []

        async def hear(msg: Msg) -> None:
            heard.append(msg.data)

        await listener.nc.subscribe("bots.heartbeat.>", cb=hear)
        beats = await listener.nc.subscribe("bots.heartbeat.b2")
        await listener.nc.flush()
        forged = b'{"bot": "b2", "pool": "erp", "worker": "x", "lease_s": 5, "stopping": true}'
        await bot.nc.publish("bots.heartbeat.b2", forged)
        await bot.refused("publish", "bots.heartbeat.b2")
        for subject in ("bots.heartbeat.b1", names.BOTS_HEARTBEAT):
            await worker.nc.publish(subject, forged.replace(b"b2", b"b1"))
            await worker.refused("publish", subject)
        await listener.nc.flush()
        assert beats.pending_msgs == 0
        assert all(b'"stopping": true' not in data for data in heard), heard  # only b1's own beats

    run(engine, ("reactor", "bot-b1", "worker"), body)
    with redis.Redis(port=engine.redis.port) as admin:
        bots = {b["bot"]: b for b in Inspector(admin, "ee:").bots()}
    assert bots["b1"].get("alive") == "1", bots


def test_only_an_operator_cancels_resolves_fails_or_extends(engine: Engine) -> None:
    """Case 17: a submitter or a worker cannot act on waits, cancel or purge; the operator can."""
    workflow = engine.root / "signalled.json"
    workflow.write_text(json.dumps(SIGNALLED))
    jobs = []
    for _ in range(2):
        out = engine.ee("client", "submit", str(workflow))
        assert out.code == 0, out.err
        jobs.append(out.out.strip())
    with redis.Redis(port=engine.redis.port) as admin:
        inspector = Inspector(admin, "ee:")
        poll(lambda: all(inspector.events(job) for job in jobs), 30, what="both jobs parked on their signal")
        event = inspector.events(jobs[0])[0]["event_id"]

    # (fail and extend go to ee.reactor.event like resolve: refused alike, as the probes show)
    for args in (("event", "resolve", event, "--data", '{"by": "client"}'), ("cancel", jobs[1]),
                 ("purge", "--older-than", "0")):
        refused = engine.ee("client", *args)
        assert refused.code == 2, refused.out + refused.err
        assert "may not publish" in refused.err and "ee.reactor." in refused.err, refused.err

    async def body(worker: Probe, client: Probe) -> None:
        for who in (worker, client):
            for subject in (names.reactor_subject("event"), names.reactor_subject("cancel"),
                            names.reactor_subject("purge"), names.JOBS_CANCEL):
                await who.nc.publish(subject, json.dumps({"job_id": jobs[1]}).encode())
                await who.refused("publish", subject)
        for subject in (names.JOBS_EXECUTE, "ee.reactor.park", "ee.reactor.finish"):
            await worker.nc.publish(subject, b"{}")
            await worker.refused("publish", subject)
        for subject in (names.ACTIVITY_RESPONSE, "activity.claim.x", "bots.heartbeat.b1", "ee.reactor.start"):
            await client.nc.publish(subject, b"{}")
            await client.refused("publish", subject)

    run(engine, ("worker", "client"), body)

    resolved = engine.ee("operator", "event", "resolve", event, "--data", '{"by": "operator"}')
    assert resolved.code == 0, resolved.out + resolved.err
    cancelled = engine.ee("operator", "cancel", jobs[1])
    assert cancelled.code == 0, cancelled.out + cancelled.err
    purged = engine.ee("operator", "purge", "--older-than", "1h")  # none finished that long ago
    assert purged.code == 0 and "removed 0 finished jobs" in purged.out, purged.out + purged.err

    def status(job: str) -> str:
        out = engine.ee("client", "status", job, "--json")
        assert out.code == 0, out.out + out.err
        value: str = json.loads(out.out)["status"]
        return value

    assert poll(lambda: status(jobs[0]) == "completed", 30, what=f"{jobs[0]} completed")
    assert status(jobs[1]) == "cancelled"


def test_a_user_without_its_own_password_is_refused(engine: Engine) -> None:
    """Case 19: auth is on; no user without a password, no user with another's."""
    anonymous = subprocess.run([sys.executable, "-m", "ee", "status", "x"], capture_output=True, text=True,
                               env={**engine.env("client"), "EE_NATS_URL": f"nats://127.0.0.1:{engine.nats.port}"},
                               cwd=engine.root, timeout=60, check=False)
    assert anonymous.returncode == 2 and "authorization violation" in anonymous.stderr, anonymous.stderr
    assert engine.run is not None
    wrong = engine.run("status", "x", cwd=engine.root, env={
        **engine.env("client"), "EE_NATS_URL": f"nats://operator:{password('client')}@127.0.0.1:{engine.nats.port}"})
    assert wrong.code == 2 and "authorization violation" in wrong.err, wrong.err


def test_only_the_reactor_makes_streams_and_others_wait_for_them(tmp_path: Path) -> None:
    """A worker or executor may not create or update a stream: on a fresh server it waits for the
    reactor's, then fails naming the stream; once the reactor made them, nobody needs more than
    their information. A push consumer made before inbox prefixes is moved under the reactor's."""
    server = nats_server(tmp_path / "nats", extra=["-c", str(CONF)],
                         env={password_variable(user): password(user) for user in USERS}).start()
    fresh = Engine(server, server, tmp_path)

    async def go() -> None:
        worker, executor, reactor = [await probe(fresh, user) for user in ("worker", "executor", "reactor")]
        try:
            with pytest.raises(EngineUnavailable, match="stream EE_ACTIVITIES unavailable: missing after 1s"):
                await worker_streams.ensure_streams(worker.nc.jetstream(), wait_s=1)
            await worker.refused("publish", "$JS.API.STREAM.CREATE.EE_ACTIVITIES")
            js = reactor.nc.jetstream()
            await shared_streams.ensure_streams(js, MAX_PAYLOAD_BYTES)
            await shared_streams.ensure_streams(js, MAX_PAYLOAD_BYTES)  # matching: no update
            await js.add_consumer(names.STREAM_RESPONSES, ConsumerConfig(
                name=names.CONSUMER_REACTOR_RESPONSES, durable_name=names.CONSUMER_REACTOR_RESPONSES,
                deliver_subject="_INBOX.made-by-an-older-version", filter_subject=names.ACTIVITY_RESPONSE))
            pushed = await durable_push(js, names.STREAM_RESPONSES, names.ACTIVITY_RESPONSE,
                                        names.CONSUMER_REACTOR_RESPONSES, ack_wait=5.0, max_deliver=-1,
                                        max_ack_pending=16)
            pushed.close()
            moved = await js.consumer_info(names.STREAM_RESPONSES, names.CONSUMER_REACTOR_RESPONSES)
            assert (moved.config.deliver_subject or "").startswith("_INBOX_reactor."), moved.config
            await worker_streams.ensure_streams(worker.nc.jetstream(), wait_s=1)
            await shared_streams.ensure_streams(executor.nc.jetstream(), MAX_PAYLOAD_BYTES, manage=False,
                                                only=(names.STREAM_JOBS,), wait_s=1)
            for who in (worker, executor, reactor):
                await who.nc.flush()
            assert (len(worker.errors), executor.errors, reactor.errors) == (1, [], []), \
                (worker.errors, executor.errors, reactor.errors)  # only the worker's refused create
        finally:
            for who in (worker, executor, reactor):
                await who.nc.close()

    try:
        asyncio.run(go())
    finally:
        server.stop()


DEPLOYED = {"name": "lp-deployed", "version": 1, "start": "say", "nodes": {
    "say": {"kind": "activity", "activity": "demo.echo", "input": {"v": "`1`"}, "output": "said", "next": "done"},
    "done": {"kind": "end", "output": "vars.said"}}}
FAILING = {"name": "lp-failing", "start": "no", "nodes": {
    "no": {"kind": "activity", "activity": "demo.fail", "input": {"message": "'no'"}, "next": "done"},
    "done": {"kind": "end"}}}


def test_only_an_operator_deploys_or_retries_and_a_client_runs_by_name(engine: Engine) -> None:
    """Deploying a workflow and retrying a failed job are an operator's; listing, showing and
    submitting a deployed workflow by name a client's."""
    workflow = engine.root / "lp-deployed.json"
    workflow.write_text(json.dumps(DEPLOYED))
    refused = engine.ee("client", "workflow", "deploy", str(workflow))
    assert refused.code == 2 and "may not publish 'ee.reactor.deploy'" in refused.err, refused.err
    deployed = engine.ee("operator", "workflow", "deploy", str(workflow))
    assert deployed.code == 0, deployed.out + deployed.err
    listed = engine.ee("client", "workflow", "list", "--json")
    assert listed.code == 0 and "lp-deployed" in listed.out, listed.out + listed.err
    shown = engine.ee("client", "workflow", "show", "lp-deployed@1")
    assert shown.code == 0, shown.out + shown.err
    ran = engine.ee("client", "submit", "lp-deployed", "--wait", "--timeout", "60", "--json")
    assert ran.code == 0 and json.loads(ran.out)["output"] == {"v": 1}, ran.out + ran.err

    failing = engine.root / "lp-failing.json"
    failing.write_text(json.dumps(FAILING))
    failed = engine.ee("client", "submit", str(failing), "--wait", "--timeout", "60", "--json")
    assert failed.code == 1, failed.out + failed.err
    job = json.loads(failed.out)["job_id"]
    refused = engine.ee("client", "retry", job)
    assert refused.code == 2 and "may not publish 'ee.reactor.retry'" in refused.err, refused.err
    retried = engine.ee("operator", "retry", job)
    assert retried.code == 0, retried.out + retried.err


def test_only_an_operator_sets_or_deletes_a_limit_and_a_client_looks_at_them(engine: Engine) -> None:
    """Limits change how hard a target is hit: setting and deleting one are an operator's;
    listing and showing them a client's too."""
    for verb in (("set", "lp-erp", "--concurrency", "2"), ("delete", "lp-erp")):
        refused = engine.ee("client", "limit", *verb)
        subject = f"ee.reactor.limit_{verb[0]}"
        assert refused.code == 2 and f"may not publish '{subject}'" in refused.err, refused.err
    done = engine.ee("operator", "limit", "set", "lp-erp", "--concurrency", "2")
    assert done.code == 0, done.out + done.err
    listed = engine.ee("client", "limit", "list", "--json")
    assert listed.code == 0 and json.loads(listed.out)[0]["concurrency"] == 2, listed.out + listed.err
    shown = engine.ee("client", "limit", "show", "lp-erp", "--json")
    assert shown.code == 0 and json.loads(shown.out)["set"] is True, shown.out + shown.err
    deleted = engine.ee("operator", "limit", "delete", "lp-erp")
    assert deleted.code == 0, deleted.out + deleted.err


ASKING = {"name": "lp-asking", "start": "ask", "nodes": {
    "ask": {"kind": "human_task", "title": "Approve", "assignee": "group:finance", "output": "a", "next": "done",
            "form": {"type": "object", "required": ["ok"], "properties": {"ok": {"type": "boolean"}}}},
    "done": {"kind": "end", "output": "vars.a"}}}


def test_a_client_or_operator_does_human_tasks_and_a_worker_cannot(engine: Engine) -> None:
    """``ee.reactor.task`` (claim, complete, reassign) is a client's and an operator's; a worker's
    publish there is refused by the server."""
    workflow = engine.root / "lp-asking.json"
    workflow.write_text(json.dumps(ASKING))
    out = engine.ee("client", "submit", str(workflow))
    assert out.code == 0, out.err
    job = out.out.strip()
    with redis.Redis(port=engine.redis.port) as admin:
        inspector = Inspector(admin, "ee:")
        task = poll(lambda: inspector.events(job), 30, what="the job parked on its task")[0]["event_id"]

    async def body(worker: Probe) -> None:
        await worker.nc.publish(names.reactor_subject("task"), json.dumps(
            {"task_id": task, "op": "complete", "by": "w", "data": {"ok": True}}).encode())
        await worker.refused("publish", names.reactor_subject("task"))

    run(engine, ("worker",), body)
    claimed = engine.ee("operator", "task", "claim", task, "--by", "olga")
    assert claimed.code == 0, claimed.out + claimed.err
    reassigned = engine.ee("operator", "task", "reassign", task, "--to", "carl", "--by", "olga")
    assert reassigned.code == 0, reassigned.out + reassigned.err
    done = engine.ee("client", "task", "complete", task, "--by", "carl", "--data", '{"ok": true}')
    assert done.code == 0, done.out + done.err

    def status() -> str:
        shown = engine.ee("client", "status", job, "--json")
        assert shown.code == 0, shown.out + shown.err
        value: str = json.loads(shown.out)["status"]
        return value

    assert poll(lambda: status() == "completed", 30, what=f"{job} completed")
