"""``ee up`` runs its private servers with auth on (issue 9, case 19).

Each server gets a random password made at its start; the stack file, which alone holds
them, is readable by its owner only. Checked on the servers ``ee up`` starts (on free
ports here, never the machine's standard ones) and on the stack file it writes.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import nats
import pytest
import redis

from ee.servers import find_binary, free_port, nats_server, redis_server
from ee.up import _record


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_private_servers_refuse_anyone_without_the_stack_password(tmp_path: Path) -> None:
    nats_proc = nats_server(tmp_path / "nats", free_port(), password="n-secret").start()
    try:
        redis_proc = redis_server(tmp_path / "redis", free_port(), password="r-secret").start()
    except BaseException:
        nats_proc.stop()
        raise
    try:
        assert nats_proc.url == f"nats://ee:n-secret@127.0.0.1:{nats_proc.port}"
        assert redis_proc.url == f"redis://default:r-secret@127.0.0.1:{redis_proc.port}/0"
        assert "n-secret" not in " ".join(nats_proc.argv) and "r-secret" not in " ".join(redis_proc.argv)
        for conf in (tmp_path / "nats" / "auth.conf", tmp_path / "redis" / "auth.conf"):
            assert mode(conf) == 0o600, conf

        async def go() -> None:
            nc = await nats.connect(nats_proc.url)
            await nc.jetstream().add_stream(name="S", subjects=["s"])  # the owner may do anything
            await nc.close()

        asyncio.run(go())
        env = {k: v for k, v in os.environ.items() if not k.startswith("EE_")}
        for url in (f"nats://127.0.0.1:{nats_proc.port}", f"nats://ee:wrong@127.0.0.1:{nats_proc.port}"):
            refused = subprocess.run([sys.executable, "-m", "ee", "--nats-url", url, "--redis-url", redis_proc.url,
                                      "status", "x"], env=env, cwd=tmp_path, capture_output=True, text=True,
                                     timeout=60, check=False)
            assert refused.returncode == 2 and "authorization violation" in refused.stderr, refused.stderr
        with redis.Redis.from_url(redis_proc.url) as owner:
            assert owner.ping()
        # The README's `redis-cli -u "$(ee url redis)"`: redis-cli 6 is refused a URL without the user.
        cli = subprocess.run([find_binary("redis-cli"), "-u", redis_proc.url, "--no-auth-warning", "PING"],
                             capture_output=True, text=True, timeout=30, check=False)
        assert cli.stdout.strip() == "PONG", cli.stdout + cli.stderr
        with redis.Redis(port=redis_proc.port) as anonymous, pytest.raises(redis.AuthenticationError):
            anonymous.ping()
        listening = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True, check=False).stdout
        for port in (nats_proc.port, redis_proc.port):
            assert f"127.0.0.1:{port} " in listening and f"0.0.0.0:{port} " not in listening, port
    finally:
        nats_proc.stop()
        redis_proc.stop()


def test_the_stack_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / ".ee" / "stack.json"
    path.parent.mkdir()
    path.write_text("{}")
    os.chmod(path, 0o644)  # an older stack file, written before the passwords
    _record(path, "nats://ee:pw@127.0.0.1:1", "redis://:pw@127.0.0.1:2/0", [], [], [])
    assert mode(path) == 0o600
    assert json.loads(path.read_text())["nats_url"] == "nats://ee:pw@127.0.0.1:1"
