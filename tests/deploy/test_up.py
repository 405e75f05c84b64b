"""``ee up`` gives each service an ops port of its own and says where /metrics is."""

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from functools import partial
from pathlib import Path
from typing import Any

from tests.support.cli import InProcessEe
from tests.support.stack import Stack, poll
from tests.support.up import ee_up

_METRICS = re.compile(r"^ee up: (?P<name>\S+)\s+/metrics at (?P<url>http://127\.0\.0\.1:\d+/metrics)", re.M)


def fetch(url: str) -> tuple[int, bytes] | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, OSError):
        return None


def ok(url: str) -> bytes | None:
    """The body of a 200 answer, else None."""
    answer = fetch(url)
    return answer[1] if answer is not None and answer[0] == 200 else None


def test_ee_up_serves_metrics_of_each_service_on_its_own_port(stack: Stack, tmp_path: Path) -> None:
    env = stack.env()
    for key in ("EE_NATS_URL", "EE_REDIS_URL", "EE_OPS_PORT"):
        env.pop(key, None)
    with ee_up("--nats-url", stack.nats.url, "--redis-url", stack.redis.url, "up", "--executors", "2", "--bots",
               "0", env=env, cwd=tmp_path, out=tmp_path / "up.out") as up:
        def announced() -> dict[str, str] | None:
            up.check_running()
            found = {m["name"]: m["url"] for m in _METRICS.finditer(up.output())}
            return found if len(found) == 4 else None

        urls = poll(announced, 20, 0.05, "ee up to print where /metrics is")
        assert set(urls) == {"reactor", "executor-1", "executor-2", "worker"}
        assert len(set(urls.values())) == 4, urls
        recorded = json.loads((tmp_path / ".ee" / "stack.json").read_text())["ops_ports"]
        console = recorded.pop("console")  # the web console: its page, not /metrics, on its port
        assert {name: f"http://127.0.0.1:{port}/metrics" for name, port in recorded.items()} == urls
        assert f"ee up: console    at http://127.0.0.1:{console}/" in up.output()
        assert poll(partial(ok, f"http://127.0.0.1:{console}/"), 30, 0.1, "the console's overview")

        for name, url in urls.items():
            assert poll(partial(ok, url.replace("/metrics", "/readyz")), 30, 0.1, f"{name} /readyz 200")
            assert b"ee_" in (ok(url) or b""), name
    assert not (tmp_path / ".ee" / "stack.json").exists()


def ee(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ee", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=60)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_one_stack_per_folder_found_from_below_and_a_stopped_service_is_started_again(
        stack: Stack, tmp_path: Path, ee_main: InProcessEe) -> None:
    env = stack.env()
    for key in ("EE_NATS_URL", "EE_REDIS_URL", "EE_OPS_PORT", "EE_DEFAULT_URLS"):
        env.pop(key, None)
    below = tmp_path / "src" / "bots"
    below.mkdir(parents=True)
    stack_file = tmp_path / ".ee" / "stack.json"
    with ee_up("--nats-url", stack.nats.url, "--redis-url", stack.redis.url, "up", "--bots", "0", env=env,
               cwd=tmp_path, out=tmp_path / "up.out") as up:
        def recorded() -> dict[str, Any] | None:
            up.check_running()
            return json.loads(stack_file.read_text()) if stack_file.exists() else None

        first = poll(recorded, 20, 0.05, "the stack file")
        assert set(first["pids"]) == {"reactor", "executor", "worker", "console"}
        # Every service up (answering /readyz), so the SIGTERM below finds the executor's handler
        # installed: one sent while it was still importing ended it with -15, not a clean 0.
        def running() -> bool:
            up.check_running()
            return "running; a service that stops is started again" in up.output()

        poll(running, 60, 0.05, "ee up to say the stack runs")

        # Found from a folder below, and `ee url` says where from.
        shown = ee_main("url", cwd=below, env=env)
        assert shown.code == 0, shown.err
        assert stack.nats.url in shown.out and stack.redis.url in shown.out
        assert str(stack_file) in shown.out

        # A second `ee up` here is refused, naming the live one, and leaves its stack file alone
        # (a real process: in this one, an `ee up` not refused would run a stack).
        second = ee("up", cwd=tmp_path, env=env)
        assert second.returncode == 2, second.stderr
        assert f"pid {up.proc.pid}" in second.stderr and stack.nats.url in second.stderr
        assert f"executor {first['pids']['executor']}" in second.stderr
        assert json.loads(stack_file.read_text()) == first

        # SIGTERM to the executor: it is started again, the reactor and worker keep running.
        os.kill(first["pids"]["executor"], signal.SIGTERM)
        again = poll(lambda: (r := recorded()) is not None and r["pids"]["executor"] != first["pids"]["executor"]
                     and r, 60, 0.1, "the executor to be started again")
        assert pid_alive(again["pids"]["executor"])
        assert again["pids"]["reactor"] == first["pids"]["reactor"] and pid_alive(first["pids"]["reactor"])
        assert again["pids"]["worker"] == first["pids"]["worker"] and pid_alive(first["pids"]["worker"])
        # Said once it has started it (the stack file may name the new pid a moment before).
        try:
            poll(lambda: "executor exited with 0; started it again" in up.output(), 20, 0.05,
                 "ee up to say it started the executor again")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; ee up said:\n{up.output()[-2000:]}") from None
    assert not stack_file.exists()

    # No stack any more: `ee` says where it looked instead of using the standard ports.
    gone = ee_main("jobs", cwd=below, env=env)
    assert gone.code == 2 and gone.out == ""
    assert gone.err.startswith("ee: no stack found") and str(below) in gone.err, gone.err
    assert ee_main("--default-urls", "url", "redis", cwd=below, env=env).out == "redis://127.0.0.1:6379/0\n"


def test_a_stack_file_whose_ee_up_is_gone_is_not_used(stack: Stack, tmp_path: Path, ee_main: InProcessEe) -> None:
    env = stack.env()
    for key in ("EE_NATS_URL", "EE_REDIS_URL", "EE_DEFAULT_URLS"):
        env.pop(key, None)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    (tmp_path / ".ee").mkdir()
    (tmp_path / ".ee" / "stack.json").write_text(json.dumps(
        {"nats_url": stack.nats.url, "redis_url": stack.redis.url, "pid": int(dead.stdout)}))
    out = ee_main("status", "some-job", cwd=tmp_path, env=env)
    assert out.code == 2 and out.err.count("\n") == 1, out.err
    assert "is not running: its `ee up` (pid" in out.err


def test_ee_up_refuses_while_another_holds_the_folder_lock(tmp_path: Path) -> None:
    """Two started at the same moment: the second finds the first's lock before any stack file."""
    (tmp_path / ".ee").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EE_")}
    with (tmp_path / ".ee" / "up.lock").open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        out = ee("up", cwd=tmp_path, env=env)
    assert out.returncode == 2 and "another ee up holds .ee/up.lock" in out.stderr, out.stderr
    assert not (tmp_path / ".ee" / "stack.json").exists() and not (tmp_path / ".ee" / "nats").exists()
