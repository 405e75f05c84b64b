"""Each container's command, run as a plain process with the compose environment, gets ready.

No Docker engine here: the command of each engine service in docker-compose.yml
runs with this venv's python, its compose environment, private nats-server and
redis-server (their URLs in place of the compose ones) and a free ops port; it
must answer ``/readyz`` 200 (and the image's HEALTHCHECK command must pass
against it), then exit 0 on SIGTERM.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from ee.servers import ServerProcess, free_port
from tests.deploy.test_manifests import dockerfile, exec_form

ROOT = Path(__file__).resolve().parents[2]
READY_WITHIN_S = 60.0
EXIT_WITHIN_S = 40.0

pytestmark = pytest.mark.skipif(not (ROOT / "reactor" / "__main__.py").exists(), reason="services not built yet")

T = TypeVar("T")


def poll(check: Callable[[], T | None], timeout: float, what: str) -> T:
    """``check()`` until it returns something other than None; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def interpolate(value: str) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?message}`` (here: empty when unset,
    as the URLs holding them are replaced), from this process's environment."""
    def one(m: re.Match[str]) -> str:
        default = m["default"] if m["op"] == "-" else ""
        return os.environ.get(m["name"]) or (default or "")
    return re.sub(r"\$\{(?P<name>\w+)(?::(?P<op>[-?])(?P<default>[^}]*))?\}", one, value)


def compose_service(name: str) -> dict[str, Any]:
    service: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"][name]
    return service


def service_env(name: str, nats: ServerProcess, redis: ServerProcess, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EE_")}
    env.update({k: interpolate(str(v)) for k, v in compose_service(name)["environment"].items()})
    env.update(EE_NATS_URL=nats.url, EE_REDIS_URL=redis.url, EE_OPS_PORT=str(port))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return env


def get(port: int, path: str) -> tuple[int, bytes] | None:
    """(status, body) of one request to the ops endpoint, or None if nothing answers yet."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, OSError):
        return None


@contextmanager
def running(name: str, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The compose command of ``name`` as a process; killed (by its PID) if the test leaves it running."""
    command = [interpolate(str(part)) for part in compose_service(name)["command"]]
    assert command[:2] == ["python", "-m"] and command[2] in ("reactor", "executor", "worker"), command
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, *command[1:]], env=env, stdout=out, stderr=subprocess.STDOUT,
                                cwd=log.parent)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def wait_ready(proc: subprocess.Popen[bytes], port: int, log: Path) -> dict[str, bool]:
    def check() -> dict[str, bool] | None:
        if proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode} before ready: {log.read_text()[-3000:]}")
        answer = get(port, "/readyz")
        if answer is None or answer[0] != 200:
            return None
        body: dict[str, bool] = json.loads(answer[1])
        return body
    return poll(check, READY_WITHIN_S, f"{log.stem} /readyz 200")


def stop(proc: subprocess.Popen[bytes], log: Path) -> int:
    os.kill(proc.pid, signal.SIGTERM)
    try:
        return proc.wait(timeout=EXIT_WITHIN_S)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"no exit {EXIT_WITHIN_S}s after SIGTERM: {log.read_text()[-3000:]}") from exc


def image_healthcheck() -> list[str]:
    args = next(a for word, a in dockerfile() if word == "HEALTHCHECK")
    command = exec_form(args.partition(" CMD ")[2])
    assert command[0] == "python"
    return [sys.executable, *command[1:]]


@pytest.mark.parametrize("name", ["reactor", "executor", "worker"])
def test_container_command_gets_ready_and_exits_zero_on_sigterm(
        name: str, private_servers: tuple[ServerProcess, ServerProcess], tmp_path: Path) -> None:
    nats, redis = private_servers
    with ExitStack() as stack:
        if name != "reactor":  # the others' readiness includes reaching the reactor, as in compose
            helper_port, helper_log = free_port(), tmp_path / "helper-reactor.log"
            helper = stack.enter_context(running("reactor", service_env("reactor", nats, redis, helper_port),
                                                 helper_log))
            wait_ready(helper, helper_port, helper_log)

        port = free_port()
        env = service_env(name, nats, redis, port)
        log = tmp_path / f"{name}.log"
        proc = stack.enter_context(running(name, env, log))
        body = wait_ready(proc, port, log)
        assert body.get("nats") is True and all(body.values()), body

        assert get(port, "/healthz") == (200, b'{"status":"ok"}')
        metrics = get(port, "/metrics")
        assert metrics is not None and metrics[0] == 200 and b"ee_" in metrics[1]
        health = subprocess.run(image_healthcheck(), env=env, capture_output=True, timeout=10, check=False)
        assert health.returncode == 0, health.stderr.decode()

        assert stop(proc, log) == 0, log.read_text()[-3000:]
        if name != "reactor":
            assert stop(helper, helper_log) == 0, helper_log.read_text()[-3000:]
