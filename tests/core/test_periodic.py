"""reactor.periodic.every: the one loop around every clock the reactor walks. A full pass runs
again at once, any other after the interval; a failed pass is reported with a bounded error
and the loop goes on; nothing runs before the start gate opens."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from reactor.catch_up import StartGate
from reactor.periodic import every

pytestmark = pytest.mark.anyio


class Log:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict[str, Any]]] = []

    def warning(self, event: str, **fields: Any) -> None:
        self.lines.append(("warning", event, fields))

    def debug(self, event: str, **fields: Any) -> None:
        self.lines.append(("debug", event, fields))


async def run_passes(outcomes: list[Any], interval_s: float, log: Log, **options: Any) -> list[float]:
    """Run ``every`` until it made one pass per outcome (True: full, an exception: raised); the
    moments of the passes."""
    seen: list[float] = []
    done = anyio.Event()

    async def one_pass() -> bool:
        seen.append(anyio.current_time())
        out = outcomes[len(seen) - 1]
        if len(seen) == len(outcomes):
            done.set()
        if isinstance(out, Exception):
            raise out
        return bool(out)

    async def loop() -> None:
        await every(interval_s, one_pass, log=log, failed="pass failed", **options)  # type: ignore[arg-type]

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(loop)
            await done.wait()
            tg.cancel_scope.cancel()
    return seen


async def test_a_full_pass_is_followed_at_once_by_the_next() -> None:
    # An hour's interval: the passes after the two full ones could not come within the test's 10 s.
    seen = await run_passes([True, True, False], 3600.0, Log())
    assert len(seen) == 3


async def test_a_failed_pass_is_reported_bounded_and_the_loop_goes_on_after_its_backoff() -> None:
    log = Log()
    failures: list[Exception] = []
    seen = await run_passes([RuntimeError("redis away " + "x" * 2000), None], 0.05, log, backoff_s=0.2,
                            on_failure=failures.append)
    assert seen[1] - seen[0] >= 0.25  # the backoff, then the interval
    assert [type(f) for f in failures] == [RuntimeError]
    [(level, event, fields)] = log.lines
    assert (level, event) == ("warning", "pass failed")
    assert fields["error"].startswith("RuntimeError: redis away") and len(fields["error"]) < 1000


async def test_nothing_runs_before_the_gate_opens_and_quiet_loops_report_at_debug() -> None:
    log, gate, ran = Log(), StartGate(), anyio.Event()

    async def one_pass() -> bool:
        ran.set()
        raise ValueError("no")

    async with anyio.create_task_group() as tg:
        async def loop() -> None:
            await every(3600.0, one_pass, log=log, failed="gauge pass failed",  # type: ignore[arg-type]
                        gate=gate, quiet=True)

        tg.start_soon(loop)
        await anyio.wait_all_tasks_blocked()
        assert not ran.is_set()
        gate.open()
        with anyio.fail_after(5):
            await ran.wait()
        await anyio.wait_all_tasks_blocked()
        tg.cancel_scope.cancel()
    assert [(level, event) for level, event, _ in log.lines] == [("debug", "gauge pass failed")]
