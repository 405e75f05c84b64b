"""Run the reactor until SIGTERM or SIGINT."""

from __future__ import annotations

import signal

import anyio
import structlog

from reactor.app import Reactor
from shared.config import Settings, load_settings
from shared.service import run_service

__all__ = ["main", "serve"]

log = structlog.get_logger("ee.reactor")


async def serve(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT, heeded from the start: a reactor still waiting for NATS
    or Redis stops at once too."""
    reactor = Reactor(settings)
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with anyio.create_task_group() as tg:
            tg.start_soon(reactor.run)
            async for signum in signals:
                log.info("stopping", signal=signal.Signals(signum).name)
                tg.cancel_scope.cancel()
                break


def main(settings: Settings | None = None) -> None:
    run_service("reactor", serve, lambda: settings or load_settings())
