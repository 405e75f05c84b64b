"""Each container's command, run as a plain process with the compose environment, gets healthy."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from ee.servers import ServerProcess, free_port
from tests.support.stack import poll

ROOT = Path(__file__).resolve().parents[2]


def compose_services() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    return {k: v for k, v in services.items() if k in ("reactor", "executor", "worker")}


def ready(port: int) -> dict[str, bool] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as reply:
            body: dict[str, bool] = json.loads(reply.read())
            return body
    except (urllib.error.URLError, OSError, ValueError):
        return None


@pytest.mark.parametrize("name", ["reactor", "executor", "worker"])
def test_container_command_reaches_healthy(name: str, servers: tuple[ServerProcess, ServerProcess],
                                           tmp_path: Path) -> None:
    nats, redis = servers
    services = compose_services()
    env = dict(os.environ)
    env.update({k: str(v) for k, v in services[name]["environment"].items()})
    port = free_port()
    env.update(EE_NATS_URL=nats.url, EE_REDIS_URL=redis.url, EE_OPS_PORT=str(port))
    command = services[name]["command"]
    assert command[0] == "python"
    command = [sys.executable, *command[1:]]  # the image's python is this venv's here
    helpers = []
    if name != "reactor":  # readiness of the others includes reaching the reactor or streams
        helpers.append(subprocess.Popen([sys.executable, "-m", "reactor"], env={**env, "EE_OPS_PORT": "0"},
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    with (tmp_path / f"{name}.log").open("wb") as log:
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        body = poll(lambda: ready(port) if proc.poll() is None else _died(proc, tmp_path / f"{name}.log"),
                    60, 0.1, f"{name} to be ready")
        assert body and all(body.values()), body
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as reply:
            assert b"ee_" in reply.read()
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=40) == 0
    finally:
        for p in (proc, *helpers):
            if p.poll() is None:
                p.kill()
                p.wait()


def _died(proc: subprocess.Popen[bytes], log: Path) -> None:
    raise AssertionError(f"exited {proc.returncode}: {log.read_text()[-2000:]}")
