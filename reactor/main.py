"""Run the reactor until SIGTERM or SIGINT."""

from __future__ import annotations

import structlog

from reactor.app import Reactor
from shared.config import Settings, load_settings
from shared.service import run_service, until_stopped

__all__ = ["main", "serve"]

log = structlog.get_logger("ee.reactor")


async def serve(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT, heeded from the start: a reactor still waiting for NATS
    or Redis stops at once too."""
    reactor = Reactor(settings)

    async def stop(signal_name: str) -> bool:
        log.info("stopping", signal=signal_name)
        return True

    await until_stopped(reactor.run, stop)


def main(settings: Settings | None = None) -> None:
    run_service("reactor", serve, lambda: settings or load_settings())
