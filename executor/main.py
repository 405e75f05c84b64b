"""Run the executor until SIGTERM (drain, then exit 0) or SIGINT."""

from __future__ import annotations

import signal

import anyio
import structlog

from executor.app import Executor
from shared.config import Settings, load_settings
from shared.service import run_service

__all__ = ["main", "serve"]

log = structlog.get_logger("ee.executor")


async def serve(settings: Settings) -> None:
    executor = Executor(settings)
    async with anyio.create_task_group() as tg:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            await tg.start(executor.run)
            async for signum in signals:
                log.info("stopping", signal=signal.Signals(signum).name,
                         grace_s=settings.shutdown_grace_s)
                await executor.drain(settings.shutdown_grace_s)
                tg.cancel_scope.cancel()
                break


def main(settings: Settings | None = None) -> None:
    run_service("executor", serve, lambda: settings or load_settings())
