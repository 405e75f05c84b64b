"""``ee up`` gives each service an ops port of its own and says where /metrics is."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from functools import partial
from pathlib import Path

from tests.support.stack import Stack, poll

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
    out = tmp_path / "up.out"
    env = stack.env()
    for key in ("EE_NATS_URL", "EE_REDIS_URL", "EE_OPS_PORT"):
        env.pop(key, None)
    with out.open("wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "ee", "--nats-url", stack.nats.url, "--redis-url",
                                 stack.redis.url, "up", "--executors", "2"], env=env, cwd=tmp_path,
                                stdout=sink, stderr=subprocess.STDOUT)
    try:
        def announced() -> dict[str, str] | None:
            if proc.poll() is not None:
                raise AssertionError(f"ee up exited {proc.returncode}:\n{out.read_text()[-3000:]}")
            found = {m["name"]: m["url"] for m in _METRICS.finditer(out.read_text(errors="replace"))}
            return found if len(found) == 4 else None

        urls = poll(announced, 20, 0.05, "ee up to print where /metrics is")
        assert set(urls) == {"reactor", "executor-1", "executor-2", "worker"}
        assert len(set(urls.values())) == 4, urls
        recorded = json.loads((tmp_path / ".ee" / "stack.json").read_text())["ops_ports"]
        assert {name: f"http://127.0.0.1:{port}/metrics" for name, port in recorded.items()} == urls

        for name, url in urls.items():
            assert poll(partial(ok, url.replace("/metrics", "/readyz")), 30, 0.1, f"{name} /readyz 200")
            assert b"ee_" in (ok(url) or b""), name
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0, out.read_text()[-3000:]
    assert not (tmp_path / ".ee" / "stack.json").exists()
