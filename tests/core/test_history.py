"""`ee status` of a finished job shows its whole history; a trimmed one says so."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from reactor.outcomes import Ok
from shared.config import load_settings
from shared.errors import ConfigError
from shared.names import Keys
from tests.support.cli import InProcessEe, StackEe
from tests.support.scripts import Driver
from tests.support.stack import Stack
from tests.workflows import chain

STEPS = 40


@pytest.fixture
def ee(ee_main: InProcessEe, tmp_path: Path) -> StackEe:
    """``ee(stack, *args)``: one command, in this process (tests.support.cli)."""
    return StackEe(ee_main, tmp_path, check=True)


def table_rows(text: str) -> list[list[str]]:
    """The cells of each row of a rich table (rows drawn with │)."""
    return [[cell.strip() for cell in line.split("│")[1:-1]] for line in text.splitlines()
            if line.startswith("│")]


def test_status_of_a_long_finished_job_shows_its_whole_history(engine: Stack, ee: StackEe) -> None:
    job_id = engine.submit(chain(STEPS), {"v": 1})
    assert engine.wait_job(job_id, timeout=60)["status"] == "completed"
    expected = [("", "created")]
    for i in range(STEPS):
        expected += [(f"s{i}", e) for e in ("entered", "parked", "fired", "resumed")]
    expected += [("done", "entered"), ("done", "completed")]

    job = json.loads(ee(engine, "status", job_id, "--json").stdout)
    assert [(h["node"], h["event"]) for h in job["history"]] == expected
    assert "history_trimmed" not in job

    text = ee(engine, "status", job_id).stdout
    assert "dropped" not in text
    rows = [(r[1], r[2]) for r in table_rows(text) if len(r) == 5 and r[0] != "at"]
    assert rows == expected


def test_a_trimmed_history_is_counted_and_shown(stack: Stack, ee: StackEe) -> None:
    """History beyond the cap is trimmed oldest first, and `ee status` says how much went.

    Driven through the reactor's scripts with a small cap (no services needed)."""
    job_id, cap, written = "trimmed", 10, 120
    keys = Keys(stack.prefix)

    async def go() -> None:
        r = aioredis.from_url(stack.redis.url)
        d = Driver(r, keys.prefix, history_max=cap)
        try:
            await d.one(d.start(job_id, name="long"))
            for i in range(written - 1):  # each new reason is one history entry
                assert isinstance(await d.one(d.strand(job_id, f"reason {i}")), Ok)
        finally:
            await r.aclose()

    asyncio.run(go())
    job: dict[str, Any] = json.loads(ee(stack, "status", job_id, "--json").stdout)
    trimmed = job["history_trimmed"]
    assert trimmed > 0
    assert trimmed + len(job["history"]) == written
    assert len(job["history"]) < 2 * cap
    assert job["history"][-1]["detail"] == f"reason {written - 2}"
    assert f"{trimmed} earliest entries dropped" in ee(stack, "status", job_id).stdout


def test_history_cap_setting_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EE_HISTORY_MAX", "500")
    assert load_settings().history_max == 500
    monkeypatch.setenv("EE_HISTORY_MAX", "3")
    with pytest.raises(ConfigError, match="EE_HISTORY_MAX"):
        load_settings()
