"""``python -m worker`` / ``ee worker``: serve the demo activities or a module's."""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys

import anyio
import structlog

from shared.config import Settings, load_settings
from shared.service import run_service
from worker import demo
from worker.sdk import Worker

log = structlog.get_logger("ee.worker")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ee worker", description="Serve activities to the engine.")
    parser.add_argument("--demo", action="store_true", help="serve the demo activities (demo.*)")
    parser.add_argument("--activities", metavar="MODULE", action="append", default=[],
                        help="a module with register(worker) (repeatable)")
    parser.add_argument("--bot", help="serve as this bot (with --pool)")
    parser.add_argument("--pool", help="the bot's pool")
    parser.add_argument("--concurrency", type=int, default=64, help="activities run at once (default 64)")
    parser.add_argument("--bot-lease", type=float, default=None, help="bot heartbeat lease, seconds (default 15)")
    parser.add_argument("--name", help="worker name in results and logs")
    args = parser.parse_args(argv)
    if not args.demo and not args.activities and not args.bot:
        parser.error("nothing to serve: give --demo, --activities MODULE or --bot")
    if (args.bot is None) != (args.pool is None):
        parser.error("--bot and --pool go together")
    return args


async def serve(worker: Worker) -> None:
    """Run until SIGTERM or SIGINT, heeded from the start: a worker still waiting for NATS
    stops at once; a serving one finishes its running activities first."""
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with anyio.create_task_group() as tg:
            ready = anyio.Event()

            async def run() -> None:
                await tg.start(worker.run)
                ready.set()

            tg.start_soon(run)
            async for signum in signals:
                name = signal.Signals(signum).name
                if ready.is_set():
                    log.info("stopping: finishing running activities", signal=name)
                    worker.stop()
                else:
                    log.info("stopping before ready", signal=name)
                    tg.cancel_scope.cancel()
                break


def main(argv: list[str] | None = None, settings: Settings | None = None) -> None:
    args = parse(sys.argv[1:] if argv is None else argv)
    lease = args.bot_lease or float(os.environ.get("EE_BOT_LEASE_S", "15"))

    def build(loaded: Settings) -> Worker:
        worker = Worker(loaded, name=args.name, concurrency=args.concurrency, bot=args.bot, pool=args.pool,
                        bot_lease_s=lease)
        if args.demo:
            demo.register(worker)
        for module in args.activities:
            importlib.import_module(module).register(worker)
        return worker

    run_service("worker", serve, lambda: build(settings or load_settings()))


if __name__ == "__main__":
    main()
