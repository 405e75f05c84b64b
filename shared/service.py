"""How each service process starts and stops: one place for the exit-code contract and
for the signals that stop a service.

A service exits 0 when stopped by a signal, 2 with a one-line message when it
cannot start (unreachable or refusing server, bad setting), never with a
traceback for those.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

from shared.errors import EngineError, engine_error_in
from shared.logs import setup_logging

__all__ = ["run_service", "until_stopped"]

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


async def until_stopped(run: Callable[[], Awaitable[None]], stop: Callable[[str], Awaitable[bool]]) -> None:
    """Run ``run`` until it returns or SIGTERM or SIGINT comes, heeded from the start (a service
    still waiting for its servers stops at once too). On the first signal ``stop(its name)`` is
    awaited (to drain, say); it returns whether to cancel ``run`` now, or else let it end by
    itself (a worker finishing its running activities)."""
    with anyio.open_signal_receiver(*STOP_SIGNALS) as signals:
        async with anyio.create_task_group() as tg:

            async def service() -> None:
                await run()
                tg.cancel_scope.cancel()  # ended by itself: no signal to wait for

            tg.start_soon(service)
            async for signum in signals:
                if await stop(signal.Signals(signum).name):
                    tg.cancel_scope.cancel()
                break

T = TypeVar("T")


def run_service(name: str, serve: Callable[[T], Awaitable[None]], settings: Callable[[], T]) -> None:
    setup_logging(name)
    try:
        anyio.run(serve, settings())
    except (EngineError, BaseExceptionGroup) as exc:
        found = engine_error_in(exc)
        if found is None:
            raise
        print(f"{name}: {found}", file=sys.stderr)
        sys.exit(2)
