"""Credentials: services work with the right ones and fail with a clear message with wrong ones."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ee.servers import nats_server, redis_server
from tests.support.stack import Stack
from tests.workflows import chain

NATS_PASSWORD = "n-s3cret-pw"
REDIS_PASSWORD = "r-s3cret-pw"


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[Stack]:
    n = nats_server(tmp_path / "nats", extra=["--user", "engine", "--pass", NATS_PASSWORD],
                    url_auth=f"engine:{NATS_PASSWORD}@").start()
    r = redis_server(tmp_path / "redis", extra=["--requirepass", REDIS_PASSWORD],
                     url_auth=f":{REDIS_PASSWORD}@").start()
    stack = Stack(n, r, tmp_path)
    yield stack
    stack.stop_all()
    n.stop()
    r.stop()


def test_services_work_with_the_right_credentials(secured: Stack) -> None:
    secured.up()
    job_id = secured.submit(chain(2), {"v": 1})
    assert secured.wait_job(job_id)["output"] == {"v": 1}
    for service in secured.services:
        assert NATS_PASSWORD not in service.output()
        assert REDIS_PASSWORD not in service.output()


def test_wrong_nats_password_fails_clearly(secured: Stack) -> None:
    wrong = secured.nats.url.replace(NATS_PASSWORD, "nope")
    for module in ("reactor", "executor"):
        out = subprocess.run([sys.executable, "-m", module], env=secured.env(EE_NATS_URL=wrong),
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 2, out.stderr[-2000:]
        assert "authorization" in out.stderr.lower()
        assert "nope" not in out.stderr and "***" in out.stderr
        assert "Traceback" not in out.stderr


def test_wrong_redis_password_fails_clearly(secured: Stack) -> None:
    wrong = secured.redis.url.replace(REDIS_PASSWORD, "nope")
    out = subprocess.run([sys.executable, "-m", "reactor"], env=secured.env(EE_REDIS_URL=wrong),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stderr[-2000:]
    assert "authentication failed" in out.stderr
    assert "nope" not in out.stderr and "Traceback" not in out.stderr
    cli = subprocess.run([sys.executable, "-m", "ee", "jobs"], env=secured.env(EE_REDIS_URL=wrong),
                         capture_output=True, text=True, timeout=60)
    assert cli.returncode == 2 and "refused the credentials" in cli.stderr


def test_password_from_a_file(secured: Stack, tmp_path: Path) -> None:
    secret = tmp_path / "redis-password"
    secret.write_text(REDIS_PASSWORD + "\n")
    bare = secured.redis.url.replace(f":{REDIS_PASSWORD}@", "")
    secured.extra_env.update(EE_REDIS_URL=bare, EE_REDIS_PASSWORD_FILE=str(secret))
    secured.up()
    job_id = secured.submit(chain(1), {"v": 2})
    client_job = secured.wait_job(job_id)
    assert client_job["output"] == {"v": 2}
