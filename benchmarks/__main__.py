"""``ee bench`` / ``python -m benchmarks``: what a durable wait costs, beside the raw parts."""

from __future__ import annotations

import argparse
import asyncio
import signal
import statistics
import sys

from benchmarks.common import phase
from benchmarks.engine import measure_engine
from benchmarks.floor import measure_floor
from benchmarks.memory import measure_memory
from benchmarks.report import print_json, print_table
from benchmarks.stack import BenchStack
from shared.arguments import ArgumentParser


def parse(argv: list[str]) -> argparse.Namespace:
    parser = ArgumentParser(prog="ee bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes: done within about 30 s")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    parser.add_argument("--repeat", type=int, default=1, help="runs; medians are reported")
    parser.add_argument("--jobs", type=int, help="throughput jobs (default 2000, quick 300)")
    parser.add_argument("--steps", type=int, default=10, help="activities per job (default 10)")
    parser.add_argument("--sequential", type=int, help="jobs run one at a time for step latency (default 50)")
    parser.add_argument("--recovery", type=int, help="parked jobs for recovery (default 2000, quick 300)")
    parser.add_argument("--parked", type=int, help="parked waits for memory (default 100000, quick 5000)")
    parser.add_argument("--nats-url", help="use this NATS instead of a private nats-server")
    parser.add_argument("--redis-url", help="use this Redis instead of a private redis-server")
    args = parser.parse_args(argv)
    args.jobs = args.jobs or (300 if args.quick else 2000)
    args.sequential = args.sequential or (10 if args.quick else 50)
    args.recovery = args.recovery or (300 if args.quick else 2000)
    args.parked = args.parked or (5000 if args.quick else 100_000)
    return args


async def one_run(args: argparse.Namespace) -> dict[str, float]:
    stack = BenchStack(args.nats_url, args.redis_url).start_servers()
    try:
        assert stack.nats_url and stack.redis_url
        with phase("floor"):
            figures = await measure_floor(stack.nats_url, stack.redis_url, args.quick)
        figures |= await measure_engine(stack, args.jobs, args.steps, args.sequential, args.recovery, args.quick)
        with phase("memory"):
            figures |= await measure_memory(stack, args.parked)
        return figures
    finally:
        stack.stop()


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt  # so that the stack's servers and services are stopped on the way out


def main(argv: list[str] | None = None) -> None:
    args = parse(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _interrupt)
    runs = []
    for i in range(max(1, args.repeat)):
        if not args.json:
            print(f"ee bench: run {i + 1} of {args.repeat}...", file=sys.stderr, flush=True)
        runs.append(asyncio.run(one_run(args)))
    keys = sorted({k for run in runs for k in run})
    figures = {k: statistics.median([run[k] for run in runs if k in run]) for k in keys}
    if args.json:
        print_json(figures)
    else:
        print_table(figures, len(runs))


if __name__ == "__main__":
    main()
