"""Shared checks of the fault suite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.stack import Service, Stack, poll


def hold_at(stack: Stack, point: str, module: str, *args: str, **env: str) -> tuple[Service, Path]:
    """Start a service that freezes at failpoint ``point``; returns it and its marker file."""
    marker = stack.workdir / f"failpoint-{point.replace(':', '-')}-{len(stack.services)}"
    service = stack.start(module, *args, EE_FAILPOINT=point, EE_FAILPOINT_FILE=str(marker), **env)
    return service, marker


def wait_marker(marker: Path, service: Service, timeout: float = 30) -> None:
    def reached() -> bool:
        if not service.alive():
            raise AssertionError(f"{service.name} died before its failpoint:\n{service.output()[-3000:]}")
        return marker.exists()

    poll(reached, timeout, 0.02, f"failpoint {marker.name}")


def assert_at_most_once(stack: Stack) -> None:
    """The demo worker started no (event, attempt) twice."""
    twice = {key: n for key, n in stack.executions().items() if n > 1}
    assert not twice, f"activity attempts run more than once: {twice}"


def assert_chain_outputs(jobs: dict[str, dict[str, Any]], expected: dict[str, Any]) -> None:
    wrong = {jid: (job.get("status"), job.get("output"), job.get("error")) for jid, job in jobs.items()
             if job.get("status") != "completed" or job.get("output") != expected[jid]}
    assert not wrong, f"{len(wrong)} jobs wrong: {dict(list(wrong.items())[:5])}"
