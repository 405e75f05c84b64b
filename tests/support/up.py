"""A real ``ee up`` for a test: started with its output in a file, stopped the way a terminal
stops it (SIGTERM), and checked to exit 0."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = ["EXIT_WITHIN_S", "RunningUp", "ee_up"]

EXIT_WITHIN_S = 40  # to stop its services and servers after SIGTERM, on 2 loaded cores


@dataclass
class RunningUp:
    proc: subprocess.Popen[bytes]
    out: Path

    def output(self) -> str:
        return self.out.read_text(errors="replace")

    def check_running(self) -> None:
        """Fail with its output if it has exited (for use inside a poll)."""
        if self.proc.poll() is not None:
            raise AssertionError(f"ee up exited {self.proc.returncode}:\n{self.output()[-3000:]}")


@contextmanager
def ee_up(*args: str, cwd: Path, env: Mapping[str, str], out: Path) -> Iterator[RunningUp]:
    """``python -m ee *args`` (``args`` holds ``up`` and its options) in ``cwd``; on leaving,
    SIGTERM, then it must exit 0 within ``EXIT_WITHIN_S`` (else it is killed and the test fails)."""
    with out.open("wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "ee", *args], cwd=cwd, env=dict(env), stdout=sink,
                                stderr=subprocess.STDOUT)
    running = RunningUp(proc, out)
    try:
        yield running
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=EXIT_WITHIN_S)
        except subprocess.TimeoutExpired as exc:
            proc.kill()
            proc.wait()
            raise AssertionError(f"ee up still running {EXIT_WITHIN_S} s after SIGTERM:\n"
                                 f"{running.output()[-3000:]}") from exc
    assert code == 0, running.output()[-3000:]
