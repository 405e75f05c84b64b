"""How each service process starts and stops: one place for the exit-code contract.

A service exits 0 when stopped by a signal, 2 with a one-line message when it
cannot start (unreachable or refusing server, bad setting), never with a
traceback for those.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

from shared.errors import EngineError, engine_error_in
from shared.logs import setup_logging

__all__ = ["run_service"]

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
