"""Child processes, started and stopped one way: the servers of ``ee up``, the tests' servers
and services, the benchmark's.

A child runs in a session of its own (a Ctrl-C meant for its parent does not reach it; the
parent stops it), writes to a log file of its own, is signalled by its own PID only, never by
name, and is always reaped.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from signal import SIGKILL, SIGTERM
from typing import Self

__all__ = ["Child"]


@dataclass
class Child:
    name: str
    argv: list[str]
    log: Path
    env: dict[str, str] | None = None  # None: this process's environment
    cwd: Path | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> Self:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.argv, env=self.env, cwd=self.cwd, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} was never started"
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        """Send ``sig`` to this child, if it still runs."""
        if self.alive():
            assert self.proc is not None
            os.kill(self.proc.pid, sig)

    def kill(self, sig: int = SIGKILL, timeout: float = 15.0) -> int | None:
        """Send ``sig`` and reap the child; SIGKILL if it still runs after ``timeout`` seconds.
        Its exit code (None: never started)."""
        if self.proc is None:
            return None
        self.signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, SIGKILL)
            self.proc.wait()
            return None

    def stop(self, timeout: float = 40.0) -> int | None:
        """SIGTERM, then wait up to ``timeout`` seconds for it to exit (then SIGKILL): its exit
        code, None when it had to be killed or was never started."""
        return self.kill(SIGTERM, timeout)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""
