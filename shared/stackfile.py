"""The stack file of ``ee up`` (``.ee/stack.json``): where its servers listen and which processes run.

``ee`` looks for it in the current folder, then in each parent, like git looks for ``.git``:
a command run from a sub-folder of the project (a worker's module folder, say) finds the
stack started at the top. A file whose ``ee up`` is no longer alive (it was SIGKILLed and
could not remove it) is found but not live: ``ee`` says so instead of connecting to
whatever listens on those ports now.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["STACK_FILE", "StackRecord", "find_stack", "pid_alive", "places_looked"]

STACK_FILE = Path(".ee") / "stack.json"


def pid_alive(pid: int) -> bool:
    """Whether a process of that id exists (ours or another user's)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class StackRecord:
    """One stack file as read: its path and what it holds (``raw`` keeps every field)."""

    path: Path
    raw: dict[str, Any] = field(repr=False)

    @property
    def pid(self) -> int:
        pid = self.raw.get("pid")
        return pid if isinstance(pid, int) else 0

    @property
    def pids(self) -> dict[str, int]:
        """The pid of each process ``ee up`` runs (servers and services), as recorded."""
        pids = self.raw.get("pids")
        return {k: v for k, v in pids.items() if isinstance(v, int)} if isinstance(pids, dict) else {}

    def url(self, which: str) -> str | None:
        value = self.raw.get(f"{which}_url")
        return value if isinstance(value, str) else None

    @property
    def alive(self) -> bool:
        return pid_alive(self.pid)

    def describe(self) -> str:
        """One line: the file, the ``ee up`` process and its URLs (no secrets)."""
        from shared.config import redact_url

        urls = ", ".join(f"{which.upper() if which == 'nats' else 'Redis'} {redact_url(url)}"
                         for which in ("nats", "redis") if (url := self.url(which)))
        pids = ", ".join(f"{name} {pid}" for name, pid in self.pids.items())
        return f"{self.path} (ee up pid {self.pid}{'; ' + pids if pids else ''}; {urls})"


def places_looked(start: Path | None = None) -> list[Path]:
    """Every stack file path that ``find_stack`` tries, nearest first."""
    here = (start or Path.cwd()).resolve()
    return [folder / STACK_FILE for folder in (here, *here.parents)]


def find_stack(start: Path | None = None) -> StackRecord | None:
    """The nearest readable stack file from ``start`` (the current folder) upwards, or None."""
    for path in places_looked(start):
        try:
            raw = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(raw, dict):
            return StackRecord(path, raw)
    return None
