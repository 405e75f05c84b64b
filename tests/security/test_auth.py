"""Credentials: services work with the right ones and fail with a clear message with wrong ones."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import nkeys
import pytest

from ee.servers import nats_server, redis_server
from tests.support.stack import Stack
from tests.workflows import chain, sleeper

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
    assert cli.returncode == 2 and "refused the credentials" in cli.stderr  # a setting to fix, not an outage


def test_password_from_a_file(secured: Stack, tmp_path: Path) -> None:
    secret = tmp_path / "redis-password"
    secret.write_text(REDIS_PASSWORD + "\n")
    bare = secured.redis.url.replace(f":{REDIS_PASSWORD}@", "")
    secured.extra_env.update(EE_REDIS_URL=bare, EE_REDIS_PASSWORD_FILE=str(secret))
    secured.up()
    job_id = secured.submit(chain(1), {"v": 2})
    client_job = secured.wait_job(job_id)
    assert client_job["output"] == {"v": 2}


# --- nkeys ----------------------------------------------------------------------------------------

HARNESS_PASSWORD = "h-s3cret-pw"


def new_user_seed() -> tuple[bytes, str]:
    """A fresh user nkey: (its seed, its public key)."""
    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    pair = nkeys.from_seed(bytearray(seed))
    public: str = pair.public_key.decode()
    pair.wipe()
    return seed, public


@pytest.fixture
def nkey_stack(tmp_path: Path) -> Iterator[tuple[Stack, bytes]]:
    """A NATS server whose engine user logs in by nkey (the test harness by password), the
    services' URL without credentials; yields the stack and the right seed."""
    seed, public = new_user_seed()
    config = tmp_path / "nats.conf"
    config.write_text("authorization {\n  users = [\n"
                      f"    {{nkey: {public}}}\n"
                      f"    {{user: harness, password: {HARNESS_PASSWORD}}}\n  ]\n}}\n")
    n = nats_server(tmp_path / "nats", extra=["-c", str(config)], url_auth=f"harness:{HARNESS_PASSWORD}@").start()
    r = redis_server(tmp_path / "redis").start()
    stack = Stack(n, r, tmp_path)
    stack.extra_env["EE_NATS_URL"] = n.url.replace(f"harness:{HARNESS_PASSWORD}@", "")
    yield stack, seed
    stack.stop_all()
    n.stop()
    r.stop()


def write_seed(path: Path, seed: bytes) -> str:
    path.write_bytes(seed + b"\n")
    path.chmod(0o600)
    return str(path)


def test_nkey_login_works_with_the_right_seed(nkey_stack: tuple[Stack, bytes], tmp_path: Path) -> None:
    stack, seed = nkey_stack
    stack.extra_env["EE_NATS_NKEY_SEED_FILE"] = write_seed(tmp_path / "engine.nk", seed)
    stack.up()
    job_id = stack.submit(chain(1), {"v": 3})
    assert stack.wait_job(job_id)["output"] == {"v": 3}
    parked = stack.submit(sleeper(3600))
    stack.wait_job(parked, statuses=("parked",))
    cli = subprocess.run([sys.executable, "-m", "ee", "cancel", parked], env=stack.env(), capture_output=True,
                         text=True, timeout=60)
    assert cli.returncode == 0, cli.stderr
    assert stack.wait_job(parked)["status"] == "cancelled"
    for service in stack.services:
        assert seed.decode() not in service.output()


def test_nkey_login_with_a_wrong_seed_fails_clearly(nkey_stack: tuple[Stack, bytes], tmp_path: Path) -> None:
    stack, _ = nkey_stack
    wrong, _ = new_user_seed()
    env = stack.env(EE_NATS_NKEY_SEED_FILE=write_seed(tmp_path / "wrong.nk", wrong))
    for argv, code in ((["-m", "reactor"], 2), (["-m", "executor"], 2), (["-m", "ee", "cancel", "some-job"], 2)):
        out = subprocess.run([sys.executable, *argv], env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == code, out.stderr[-2000:]
        assert "authorization violation" in out.stderr and "nkey" in out.stderr, out.stderr[-2000:]
        assert "Traceback" not in out.stderr and wrong.decode() not in out.stderr


@pytest.mark.parametrize(("setting", "content", "message"), [
    ("EE_NATS_NKEY_SEED_FILE", None, "cannot read"),
    ("EE_NATS_NKEY_SEED_FILE", b"SUNOTASEED", "holds no valid nkey seed"),
    ("EE_NATS_CREDS", None, "cannot read"),
    ("EE_NATS_CREDS", b"-----BEGIN NATS USER JWT-----\nnot much\n", "not a NATS .creds file"),
    ("EE_NATS_TLS_CA", None, "cannot load the CA bundle"),
    ("EE_NATS_TLS_CA", b"-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n",
     "cannot load the CA bundle"),
], ids=["seed-missing", "seed-garbage", "creds-missing", "creds-garbage", "ca-missing", "ca-garbage"])
def test_a_broken_credentials_file_stops_the_service_at_once(
        stack: Stack, tmp_path: Path, setting: str, content: bytes | None, message: str) -> None:
    path = tmp_path / "credential-file"
    if content is not None:
        path.write_bytes(content)
    env = stack.env(**{setting: str(path)})
    for argv in (["-m", "reactor"], ["-m", "worker", "--demo"], ["-m", "ee", "cancel", "some-job"]):
        started = time.monotonic()
        out = subprocess.run([sys.executable, *argv], env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 2, out.stderr[-2000:]
        assert setting in out.stderr and message in out.stderr, out.stderr[-2000:]
        assert "Traceback" not in out.stderr
        assert time.monotonic() - started < 15, "a broken file is not waited out"
