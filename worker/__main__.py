"""``python -m worker`` / ``ee worker``: serve the demo activities or a module's."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

import anyio
import structlog

from shared.arguments import ArgumentParser
from shared.config import Settings
from shared.errors import ConfigError
from shared.service import run_service, until_stopped
from worker import demo
from worker.sdk import Worker
from worker.settings import WorkerSettings

log = structlog.get_logger("ee.worker")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = ArgumentParser(prog="ee worker", description="Serve activities to the engine.")
    parser.add_argument("--demo", action="store_true", help="serve the demo activities (demo.*)")
    parser.add_argument("--activities", metavar="MODULE", action="append", default=[],
                        help="a module with register(worker) (repeatable)")
    parser.add_argument("--bot", help="serve as this bot (with --pool)")
    parser.add_argument("--pool", help="the bot's pool")
    parser.add_argument("--concurrency", type=int, default=None,
                        help="activities run at once (env EE_WORKER_CONCURRENCY, default 64)")
    parser.add_argument("--bot-lease", type=float, default=None,
                        help="bot heartbeat lease, seconds (env EE_BOT_LEASE_S, default 15)")
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
    ready = anyio.Event()

    async def run() -> None:
        async with anyio.create_task_group() as tg:
            await tg.start(worker.run)
            ready.set()

    async def stop(signal_name: str) -> bool:
        if ready.is_set():
            log.info("stopping: finishing running activities", signal=signal_name)
            worker.stop()
            return False
        log.info("stopping before ready", signal=signal_name)
        return True

    await until_stopped(run, stop)


def load_activities(worker: Worker, module: str) -> None:
    """Import ``module`` and let its ``register(worker)`` register its activities.

    Found like ``python -m`` finds a module: in the current folder first, then the installed
    packages (the ``ee`` script alone would not look in the current folder)."""
    here = os.getcwd()
    if here not in sys.path:
        sys.path.insert(0, here)
    try:
        found = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is None or not (module == exc.name or module.startswith(exc.name + ".")):
            raise  # the module was found; something it imports is missing: its traceback says what
        raise ConfigError("--activities", module, f"no module named {exc.name!r} in {here} or the installed "
                          "packages (give the module's name, without .py, from its folder)") from None
    register = getattr(found, "register", None)
    if not callable(register):
        raise ConfigError("--activities", module, f"{found.__file__} has no register(worker) function")
    register(worker)


def main(argv: list[str] | None = None, settings: Settings | None = None) -> None:
    args = parse(sys.argv[1:] if argv is None else argv)

    def build() -> Worker:
        loaded = WorkerSettings.load(engine=settings)
        worker = Worker(loaded, name=args.name, concurrency=args.concurrency, bot=args.bot, pool=args.pool,
                        bot_lease_s=args.bot_lease)
        if args.demo:
            demo.register(worker)
        for module in args.activities:
            load_activities(worker, module)
        if settings is not None:  # `ee worker`: refuse a NATS URL found nowhere, once the modules load
            settings.require("nats")
        return worker

    run_service("worker", serve, build)


if __name__ == "__main__":
    main()
