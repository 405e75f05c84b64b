"""``ee up``: the embedded stack in one command.

Starts nats-server and redis-server (on the standard ports when free, else on
free ones) unless URLs are given, then the reactor, the executor and the demo
worker as child processes, each with an ops endpoint (``/metrics``, ``/healthz``,
``/readyz``) on a free port of its own, printed at start, and records where
everything listens in ``.ee/stack.json`` so that other ``ee`` commands run from
this folder find it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ee.servers import ServerProcess, free_port, nats_server, redis_server
from shared.config import STACK_FILE, redact_url

__all__ = ["run_stack"]


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


def _services(executors: int) -> list[tuple[str, list[str], int]]:
    """(name, command, ops port) of each service process, every one on a free port of its own."""
    commands = [("reactor", [sys.executable, "-m", "reactor"])]
    commands += [(f"executor-{i}" if executors > 1 else "executor", [sys.executable, "-m", "executor"])
                 for i in range(1, executors + 1)]
    commands += [("worker", [sys.executable, "-m", "worker", "--demo"])]
    ports: list[int] = []
    for _ in commands:
        port = free_port()
        while port in ports:  # the kernel may hand out a port again once its probe socket closed
            port = free_port()
        ports.append(port)
    return [(name, cmd, port) for (name, cmd), port in zip(commands, ports, strict=True)]


def run_stack(nats_url: str | None, redis_url: str | None, executors: int = 1,
              example: Path | None = None, example_input: str = "{}") -> int:
    state = Path(".ee")
    state.mkdir(exist_ok=True)
    servers: list[ServerProcess] = []
    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    code = 0
    try:
        if nats_url is None:
            nats = nats_server(state / "nats", free_port(4222)).start()
            servers.append(nats)
            nats_url = nats.url
        if redis_url is None:
            redis = redis_server(state / "redis", free_port(6379)).start()
            servers.append(redis)
            redis_url = redis.url
        env = dict(os.environ, EE_NATS_URL=nats_url, EE_REDIS_URL=redis_url)
        env.setdefault("EE_LOG_FORMAT", "console")
        services = _services(executors)
        STACK_FILE.write_text(json.dumps({"nats_url": nats_url, "redis_url": redis_url, "pid": os.getpid(),
                                          "ops_ports": {name: port for name, _, port in services}}, indent=2))
        children = [(" ".join(cmd[1:]), subprocess.Popen(cmd, env=dict(env, EE_OPS_PORT=str(port))))
                    for _, cmd, port in services]
        print(f"ee up: NATS {redact_url(nats_url)}  Redis {redact_url(redis_url)}", flush=True)
        for name, _, port in services:
            print(f"ee up: {name:<10} /metrics at http://127.0.0.1:{port}/metrics  (/healthz, /readyz)",
                  flush=True)
        print(f"ee up: reactor, {executors} executor(s) and the demo worker running; Ctrl-C stops all",
              flush=True)
        if example is not None:
            _run_example(example, example_input, env)
            print("ee up: try `.venv/bin/ee jobs`, `.venv/bin/ee submit examples/approval.json` and the "
                  "README's tour in another terminal; Ctrl-C stops all", flush=True)
        while not stopping:
            for what, child in children:
                if child.poll() is not None:
                    print(f"ee up: {what} exited with {child.returncode}; stopping",
                          file=sys.stderr, flush=True)
                    stopping, code = True, 1
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
        STACK_FILE.unlink(missing_ok=True)
    print("ee up: stopped", flush=True)
    return code
