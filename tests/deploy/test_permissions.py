"""The NATS authorization block and the Redis ACL of docs/security.md are enough to run a job.

A nats-server runs with the exact block from the document (one user per
service, the ``client`` user for the command line), a redis-server with the
exact ``ACL SETUSER`` line; reactor, executor and demo worker each connect as
their own user, and ``ee submit --wait`` as ``client`` runs the invoice example
to completion.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import redis

from ee.servers import ServerProcess, free_port, nats_server, redis_server
from tests.deploy.test_entrypoints import running, stop, wait_ready

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "security.md"

pytestmark = pytest.mark.skipif(not (ROOT / "reactor" / "__main__.py").exists(), reason="services not built yet")


def section_block(heading: str, language: str = "") -> str:
    """The first fenced block under ``## heading`` of docs/security.md."""
    text = DOC.read_text()
    section = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    found = re.search(rf"```{language}\n(.*?)```", section, re.S)
    assert found, f"no code block under '{heading}' in {DOC}"
    return found[1]


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    conf = tmp_path / "nats.conf"
    conf.write_text(section_block("NATS permissions per service"))
    nats = nats_server(tmp_path / "nats", extra=["-c", str(conf)]).start()
    try:
        store = redis_server(tmp_path / "redis").start()
    except BaseException:
        nats.stop()
        raise
    try:
        acl = [line for line in section_block("Redis ACL").splitlines() if line.startswith("ACL SETUSER")]
        assert len(acl) == 1, acl
        with redis.Redis(port=store.port) as admin:
            admin.execute_command(*shlex.split(acl[0]))
        yield nats, store
    finally:
        nats.stop()
        store.stop()


def test_each_service_as_its_own_user_runs_a_job(secured: tuple[ServerProcess, ServerProcess],
                                                 tmp_path: Path) -> None:
    nats, store = secured
    base = {k: v for k, v in os.environ.items() if not k.startswith("EE_")}
    base["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    redis_url = f"redis://engine:CHANGE-ME@127.0.0.1:{store.port}/0"

    def env(user: str, port: int = 0) -> dict[str, str]:
        return {**base, "EE_NATS_URL": f"nats://{user}:CHANGE-ME@127.0.0.1:{nats.port}",
                "EE_REDIS_URL": redis_url, "EE_OPS_PORT": str(port)}

    with ExitStack() as stack:
        procs = []
        for name in ("reactor", "executor", "worker"):
            port, log = free_port(), tmp_path / f"{name}.log"
            proc = stack.enter_context(running(name, env(name, port), log))
            wait_ready(proc, port, log)
            procs.append((proc, log))

        submit = subprocess.run(
            [sys.executable, "-m", "ee", "submit", str(ROOT / "examples" / "invoice.json"),
             "--input", '{"amount": 1200, "customer": "ACME"}', "--wait", "--timeout", "60"],
            env=env("client"), cwd=tmp_path, capture_output=True, text=True, timeout=90, check=False)
        logs = "\n".join(f"--- {log.name}\n{log.read_text()[-1500:]}" for _, log in procs)
        assert submit.returncode == 0, f"{submit.stdout}\n{submit.stderr}\n{logs}"
        assert "ACME" in submit.stdout, submit.stdout

        # The permissions bite: a worker may not submit jobs.
        refused = subprocess.run(
            [sys.executable, "-m", "ee", "submit", str(ROOT / "examples" / "invoice.json"),
             "--input", '{"amount": 1, "customer": "X"}'],
            env=env("worker"), cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
        assert refused.returncode == 4 and "unavailable" in refused.stderr, refused.stdout + refused.stderr

        for proc, log in reversed(procs):
            assert stop(proc, log) == 0, log.read_text()[-3000:]
