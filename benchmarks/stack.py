"""The private stack a benchmark runs on: servers and services, started and stopped by PID."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ee.processes import Child
from ee.servers import ServerProcess, nats_server, redis_server

__all__ = ["BenchStack"]


@dataclass
class BenchStack:
    nats_url: str | None = None
    redis_url: str | None = None
    prefix: str = "eebench:"
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="ee-bench-")))
    servers: list[ServerProcess] = field(default_factory=list)
    procs: dict[str, Child] = field(default_factory=dict)

    def start_servers(self) -> BenchStack:
        if self.nats_url is None:
            nats = nats_server(self.root / "nats").start()
            self.servers.append(nats)
            self.nats_url = nats.url
        if self.redis_url is None:
            redis = redis_server(self.root / "redis").start()
            self.servers.append(redis)
            self.redis_url = redis.url
        return self

    def env(self, **extra: str) -> dict[str, str]:
        assert self.nats_url and self.redis_url
        env = dict(os.environ, EE_NATS_URL=self.nats_url, EE_REDIS_URL=self.redis_url,
                   EE_REDIS_PREFIX=self.prefix, EE_LOG_FORMAT="json", EE_LOG_LEVEL="WARNING")
        env.pop("EE_DEMO_LEDGER", None)
        env.update(extra)
        return env

    def start(self, name: str, *args: str, **env: str) -> Child:
        module = name.split("#")[0]
        child = Child(name, [sys.executable, "-m", module, *args], self.root / f"{name.replace('#', '-')}.log",
                      env=self.env(**env)).start()
        self.procs[name] = child
        return child

    def kill(self, name: str) -> None:
        self.procs.pop(name).kill()

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time used so far by each process this stack started."""
        pids = {name: p.pid for name, p in self.procs.items()}
        pids.update({s.name: s.pid for s in self.servers if s.child is not None})
        out = {}
        tick = os.sysconf("SC_CLK_TCK")
        for name, pid in pids.items():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                out[name] = (int(fields[11]) + int(fields[12])) / tick
            except OSError:
                continue
        return out

    def stop_services(self) -> None:
        for name in list(self.procs):
            self.kill(name)

    def stop(self) -> None:
        for name in list(self.procs):
            self.procs.pop(name).stop(timeout=20)
        for server in self.servers:
            server.stop()
        self.servers.clear()
        shutil.rmtree(self.root, ignore_errors=True)
