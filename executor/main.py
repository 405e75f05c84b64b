"""Run the executor until SIGTERM (drain, then exit 0) or SIGINT."""

from __future__ import annotations

import argparse
import sys

import structlog

from executor.app import Executor
from shared.arguments import ArgumentParser
from shared.config import Settings, load_settings
from shared.service import run_service, until_stopped

__all__ = ["main", "serve"]

log = structlog.get_logger("ee.executor")


async def serve(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT, heeded from the start: an executor still waiting for NATS
    or the reactor holds nothing and stops at once; a running one drains first."""
    executor = Executor(settings)

    async def stop(signal_name: str) -> bool:
        log.info("stopping", signal=signal_name, grace_s=settings.shutdown_grace_s, in_hand=executor.in_hand)
        await executor.drain(settings.shutdown_grace_s)
        return True

    await until_stopped(executor.run, stop)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} must be >= 0")
    return value


def parse(argv: list[str]) -> argparse.Namespace:
    parser = ArgumentParser(prog="python -m executor", description="Run the executor service.")
    parser.add_argument("--grace", type=_seconds, default=None, metavar="SECONDS",
                        help="on SIGTERM, wait up to SECONDS for the jobs in hand to park or finish "
                             "(env EE_SHUTDOWN_GRACE_S, default 30)")
    return parser.parse_args(argv)


def main(settings: Settings | None = None, argv: list[str] | None = None) -> None:
    """Run until stopped; ``settings`` given (by ``ee executor``) or loaded, ``--grace`` from ``argv``."""
    if settings is not None:
        run_service("executor", serve, lambda: settings)
        return
    args = parse(sys.argv[1:] if argv is None else argv)
    run_service("executor", serve, lambda: load_settings().with_overrides(shutdown_grace_s=args.grace))
