"""Shared checks of the fault suite."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import nats

from tests.support.stack import Service, Stack, poll
from tests.workflows import chain


def sleepy_chain(steps: int, seconds: float) -> dict[str, Any]:
    """``steps`` demo.sleep activities of ``seconds`` in a row, passing ``v`` on; the output is ``{"v": ..}``."""
    flow = chain(steps, "demo.sleep")
    for node in flow["nodes"].values():
        if node["kind"] == "activity":
            node["input"]["seconds"] = f"`{seconds}`"
    flow["nodes"]["done"]["output"] = f"{{v: vars.s{steps - 1}.v}}"
    return flow


def hold_at(stack: Stack, point: str, module: str, *args: str, **env: str) -> tuple[Service, Path]:
    """Start a service that stops (SIGSTOP, the whole process) at failpoint ``point``;
    returns it and its marker file."""
    marker = stack.workdir / f"failpoint-{point.replace(':', '-')}-{len(stack.services)}"
    service = stack.start(module, *args, EE_FAILPOINT=point, EE_FAILPOINT_FILE=str(marker), **env)
    return service, marker


def wait_marker(marker: Path, service: Service, timeout: float = 30) -> None:
    def reached() -> bool:
        if not service.alive():
            raise AssertionError(f"{service.name} died before its failpoint:\n{service.output()[-3000:]}")
        return marker.exists()

    poll(reached, timeout, 0.02, f"failpoint {marker.name}")


def log_entries(service: Service, event: str) -> list[dict[str, Any]]:
    """The service's JSON log lines whose ``event`` is this."""
    found = []
    for line in service.output().splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("event") == event:
                found.append(entry)
    return found


def job_state(stack: Stack, job_id: str) -> tuple[str | None, int | None, dict[str, str]]:
    """(status, fence, {event id suffix such as '~1.0': event status}) of a job, read from Redis."""
    job = stack.job(job_id)
    if job is None:
        return None, None, {}
    client = stack.redis_client()
    keys = stack.inspector().keys
    events = {}
    for event_id in job["events"]:
        status = client.hget(keys.event(event_id), "status")
        events[event_id[len(job_id):]] = status.decode() if isinstance(status, bytes) else str(status)
    return job.get("status"), job.get("fence"), events


def all_parked(stack: Stack, job_ids: list[str]) -> bool:
    """Every job parked, having parked at least once (so on a wait, not finished)."""
    client = stack.redis_client()
    keys = stack.inspector().keys
    pipe = client.pipeline(transaction=False)
    for job_id in job_ids:
        pipe.hmget(keys.job(job_id), ["status", "fence"])
    return all(status == b"parked" and int(fence) >= 1 for status, fence in pipe.execute())


def stream_state(stack: Stack, stream: str) -> tuple[int, int]:
    """(messages held, last sequence ever stored) of a JetStream stream."""
    async def go() -> tuple[int, int]:
        nc = await nats.connect(stack.nats.url)
        try:
            info = await nc.jetstream().stream_info(stream)
            return int(info.state.messages), int(info.state.last_seq)
        finally:
            await nc.close()

    return asyncio.run(go())


def assert_at_most_once(stack: Stack) -> None:
    """The demo worker started no (event, attempt) twice."""
    twice = {key: n for key, n in stack.executions().items() if n > 1}
    assert not twice, f"activity attempts run more than once: {twice}"


def assert_chain_outputs(jobs: dict[str, dict[str, Any]], expected: dict[str, Any]) -> None:
    wrong = {jid: (job.get("status"), job.get("output"), job.get("error")) for jid, job in jobs.items()
             if job.get("status") != "completed" or job.get("output") != expected[jid]}
    assert not wrong, f"{len(wrong)} jobs wrong: {dict(list(wrong.items())[:5])}"
