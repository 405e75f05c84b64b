"""Run the reactor until SIGTERM or SIGINT."""

from __future__ import annotations

import signal
import sys

import anyio
import structlog

from reactor.app import Reactor
from shared.config import Settings, load_settings
from shared.errors import EngineError, engine_error_in
from shared.logs import setup_logging

__all__ = ["main", "serve"]

log = structlog.get_logger("ee.reactor")


async def serve(settings: Settings) -> None:
    reactor = Reactor(settings)
    async with anyio.create_task_group() as tg:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            await tg.start(reactor.run)
            async for signum in signals:
                log.info("stopping", signal=signal.Signals(signum).name)
                tg.cancel_scope.cancel()
                break


def main(settings: Settings | None = None) -> None:
    setup_logging("reactor")
    try:
        anyio.run(serve, settings or load_settings(default_ops_port=0))
    except (EngineError, BaseExceptionGroup) as exc:
        found = engine_error_in(exc)
        if found is None:
            raise
        print(f"reactor: {found}", file=sys.stderr)
        sys.exit(2)
