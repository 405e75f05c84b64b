"""``ee up``: the embedded stack in one command.

Starts nats-server and redis-server (on the standard ports when free, else on
free ones, bound to 127.0.0.1, each with a random password made at this start and
kept in the stack file alone, mode 0600) unless URLs are given, then the reactor, the executor and the demo
worker as child processes, each with an ops endpoint (``/metrics``, ``/healthz``,
``/readyz``) on a free port of its own, printed at start, and records where
everything listens and the pid of each process in ``.ee/stack.json`` so that other
``ee`` commands run from this folder (or one below it) find it.

One stack per folder: it refuses to start while the stack file here names a live
``ee up`` (or a process one left behind). A service that stops, by SIGTERM or a crash,
is started again and the others keep running (a hot patch can be practised on the
executor); one that exits within seconds of each start, three times in a row, stops the
stack.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from ee.servers import ServerProcess, free_port, nats_server, private_file, redis_server
from shared.config import redact_url
from shared.stackfile import STACK_FILE, StackRecord, find_stack, pid_alive

__all__ = ["live_stack_here", "run_stack"]

_QUICK_EXIT_S = 5.0  # a service that exits sooner after its start counts as a quick exit
_READY_WITHIN_S = 60.0  # how long "running" waits for every service's /readyz


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as reply:
            return bool(reply.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _wait_ready(ports: list[int], procs: list[subprocess.Popen[bytes]], stopping: list[bool]) -> bool:
    """Wait until every service answers /readyz (the reactor holds its lease and made the
    streams, the executor and the worker reach it), so that a command typed once "running" is
    printed finds a working engine; False when one exits or the wait runs out first."""
    deadline = time.monotonic() + _READY_WITHIN_S
    waiting = set(range(len(ports)))
    while waiting and not stopping[0] and time.monotonic() < deadline:
        if any(proc.poll() is not None for proc in procs):
            return False
        waiting = {i for i in waiting if not _ready(ports[i])}
        if waiting:
            time.sleep(0.1)
    return not waiting
_QUICK_EXITS_MAX = 3  # this many in a row stop the stack


def _run_example(example: Path, job_input: str, settings_env: dict[str, str]) -> None:
    """Submit the example once the engine takes jobs, and print its result."""
    deadline = time.monotonic() + 60
    while True:
        out = subprocess.run([sys.executable, "-m", "ee", "submit", str(example), "--input", job_input,
                              "--wait", "--timeout", "60"], env=settings_env, capture_output=True,
                             text=True)
        if out.returncode != 2 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    print(f"ee up: example {example} ->", flush=True)
    print(out.stdout.rstrip() or out.stderr.rstrip(), flush=True)


DEMO_POOL = "demo"
CONSOLE, CONSOLE_PORT = "console", 8233  # the web console (``ee ui``), on its default port when free


def _services(executors: int, bots: int = 0) -> list[tuple[str, list[str], int]]:
    """(name, command, ops port) of each service process, every one on a free port of its own."""
    commands = [("reactor", [sys.executable, "-m", "reactor"])]
    commands += [(f"executor-{i}" if executors > 1 else "executor", [sys.executable, "-m", "executor"])
                 for i in range(1, executors + 1)]
    commands += [("worker", [sys.executable, "-m", "worker", "--demo"])]
    commands += [(f"demo-bot-{i}", [sys.executable, "-m", "worker", "--demo", "--bot", f"demo-bot-{i}",
                                    "--pool", DEMO_POOL]) for i in range(1, bots + 1)]
    commands += [(CONSOLE, [sys.executable, "-m", "ee", "ui"])]  # its own port serves /readyz too
    ports: list[int] = []
    for name, _ in commands:
        port = free_port(CONSOLE_PORT if name == CONSOLE else None)
        while port in ports:  # the kernel may hand out a port again once its probe socket closed
            port = free_port()
        ports.append(port)
    return [(name, [*cmd, "--port", str(port)] if name == CONSOLE else cmd, port)
            for (name, cmd), port in zip(commands, ports, strict=True)]


def live_stack_here() -> StackRecord | None:
    """The stack file of this folder if its ``ee up`` or any process it recorded still runs:
    a second stack here would share its JetStream store and AOF file."""
    found = find_stack(Path.cwd())
    if found is None or found.path != (Path.cwd() / STACK_FILE).resolve():
        return None
    return found if found.alive or any(pid_alive(pid) for pid in found.pids.values()) else None


def _record(path: Path, nats_url: str, redis_url: str, servers: list[ServerProcess],
            services: list[tuple[str, list[str], int]], children: list[subprocess.Popen[bytes]]) -> None:
    pids = {server.name + "-server": server.pid for server in servers}
    pids |= {name: child.pid for (name, _, _), child in zip(services, children, strict=True)}
    data = {"nats_url": nats_url, "redis_url": redis_url, "pid": os.getpid(), "pids": pids,
            "ops_ports": {name: port for name, _, port in services}}
    # Readable by this user only: the URLs carry the stack's passwords. Replaced whole, so
    # readers never see half a file.
    private_file(path.with_suffix(".tmp"), json.dumps(data, indent=2)).replace(path)


def run_stack(nats_url: str | None, redis_url: str | None, executors: int = 1,
              examples: list[tuple[Path, str]] | None = None, bots: int = 0) -> int:
    """Run the stack until SIGINT/SIGTERM; ``examples``: (workflow file, input JSON) submitted in
    turn once it is up, each result printed."""
    live = live_stack_here()
    if live is not None:
        print(f"ee up: a stack already runs in this folder: {live.describe()}; stop it first (Ctrl-C in "
              f"its terminal, or SIGTERM to pid {live.pid})", file=sys.stderr, flush=True)
        return 2
    state = Path(".ee")
    state.mkdir(mode=0o700, exist_ok=True)
    os.chmod(state, 0o700)  # the stack's servers keep their data and password files in it
    # Held while this ee up lives (the kernel lets go when it dies, however): two started at
    # the same moment cannot both pass the check above before either writes its stack file.
    lock = (state / "up.lock").open("w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        print("ee up: a stack is starting in this folder (another ee up holds .ee/up.lock); stop it first",
              file=sys.stderr, flush=True)
        return 2
    servers: list[ServerProcess] = []
    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    stopping = False

    stop_flag = [False]  # the same, for the readiness wait

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = stop_flag[0] = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    code = 0
    try:
        # Auth on, even on 127.0.0.1: other users of this machine reach that address too.
        # A password per server, new at each start, known to this stack file alone.
        if nats_url is None:
            nats = nats_server(state / "nats", free_port(4222), password=secrets.token_hex(24)).start()
            servers.append(nats)
            nats_url = nats.url
        if redis_url is None:
            redis = redis_server(state / "redis", free_port(6379), password=secrets.token_hex(24)).start()
            servers.append(redis)
            redis_url = redis.url
        env = dict(os.environ, EE_NATS_URL=nats_url, EE_REDIS_URL=redis_url)
        env.setdefault("EE_LOG_FORMAT", "console")
        services = _services(executors, bots)

        def launch(cmd: list[str], port: int) -> subprocess.Popen[bytes]:
            return subprocess.Popen(cmd, env=dict(env, EE_OPS_PORT=str(port)))

        procs = [launch(cmd, port) for _, cmd, port in services]
        children = [(" ".join(cmd[1:]), proc) for (_, cmd, _), proc in zip(services, procs, strict=True)]
        _record(STACK_FILE, nats_url, redis_url, servers, services, procs)
        print(f"ee up: NATS {redact_url(nats_url)}  Redis {redact_url(redis_url)}", flush=True)
        for name, _, port in services:
            if name == CONSOLE:
                print(f"ee up: {name:<10} at http://127.0.0.1:{port}/  (the web console)", flush=True)
                continue
            print(f"ee up: {name:<10} /metrics at http://127.0.0.1:{port}/metrics  (/healthz, /readyz)",
                  flush=True)
        if not _wait_ready([port for _, _, port in services], procs, stop_flag):
            print(f"ee up: not every service answered /readyz within {_READY_WITHIN_S:g} s; see the log "
                  "above", file=sys.stderr, flush=True)
        with_bots = f" and {bots} demo bot(s) in pool {DEMO_POOL!r}" if bots else ""
        print(f"ee up: reactor, {executors} executor(s), the demo worker{with_bots} running; a service that "
              "stops is started again; Ctrl-C stops all", flush=True)
        for example, example_input in examples or []:
            _run_example(example, example_input, env)
        if examples:
            print("ee up: try `.venv/bin/ee jobs`, `.venv/bin/ee submit examples/approval.json` and the "
                  "README's tour in another terminal; Ctrl-C stops all", flush=True)
        started = [time.monotonic()] * len(procs)
        quick_exits = [0] * len(procs)
        while not stopping:
            for i, ((name, cmd, port), proc) in enumerate(zip(services, procs, strict=True)):
                if stopping or proc.poll() is None:
                    continue
                # Restarted, so that SIGTERM to one service (a hot patch, a crash) leaves the
                # others running; one that keeps dying at once (a bad setting) stops the stack.
                quick_exits[i] = quick_exits[i] + 1 if time.monotonic() - started[i] < _QUICK_EXIT_S else 0
                if quick_exits[i] >= _QUICK_EXITS_MAX:
                    print(f"ee up: {name} exited with {proc.returncode} {quick_exits[i]} times in a row within "
                          f"{_QUICK_EXIT_S:g} s of starting; stopping", file=sys.stderr, flush=True)
                    stopping, code = True, 1
                    break
                procs[i] = launch(cmd, port)
                children[i] = (children[i][0], procs[i])
                started[i] = time.monotonic()
                print(f"ee up: {name} exited with {proc.returncode}; started it again (pid {procs[i].pid})",
                      file=sys.stderr, flush=True)
                _record(STACK_FILE, nats_url, redis_url, servers, services, procs)
            time.sleep(0.2)
    finally:
        for _, child in reversed(children):
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 40
        for _, child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
        for server in servers:
            server.stop()
        if children:  # this run wrote it (a refused or failed start leaves any other one alone)
            STACK_FILE.unlink(missing_ok=True)
    print("ee up: stopped", flush=True)
    return code
