"""``ee limit set|list|show|delete``: limits on how many attempts of an activity run at once and
how often one starts, set live through the reactor's endpoints (reactor/limits.py)."""

from __future__ import annotations

from typing import Any

import click

from ee.cli_base import Context, fail, name_of, pass_ctx, run_async
from ee.render import print_json, print_table
from shared.flow import parse_rate
from shared.messages import LimitInfo

__all__ = ["limit_group"]


def _rate(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, float] | None:
    if value is None:
        return None
    try:
        return parse_rate(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from exc


def _shown(info: LimitInfo) -> dict[str, Any]:
    return {"name": info.name, "set": info.set, "concurrency": info.concurrency, "rate": info.rate,
            "period_s": info.period_s, "updated": info.updated,
            "keys": [{"key": k.key, "running": k.running, "waiting": k.waiting} for k in info.keys]}


def _caps(info: LimitInfo) -> str:
    if not info.set:
        return "unlimited (never set)"
    caps = []
    if info.concurrency is not None:
        caps.append(f"concurrency {info.concurrency}")
    if info.rate is not None and info.period_s is not None:
        caps.append(f"rate {info.rate}/{info.period_s:g}s")
    return ", ".join(caps)


@click.group("limit")
def limit_group() -> None:
    """Limits: how many attempts of the activities naming one run at once (--concurrency) and how
    often one starts (--rate), per key; changed live."""


@limit_group.command("set")
@click.argument("name", callback=name_of("limit"))
@click.option("--concurrency", type=click.IntRange(min=1), help="At most N attempts running at once (per key).")
@click.option("--rate", callback=_rate, metavar="N/PERIOD",
              help="At most N starts per PERIOD (per key): 100/min, 5/s, 10/30s.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def limit_set(ctx: Context, name: str, concurrency: int | None, rate: tuple[int, float] | None,
              as_json: bool) -> None:
    """Set limit NAME: all of its caps at once (a cap not given is lifted). Takes effect for the
    next dispatch."""
    from ee.client import EngineClient

    if concurrency is None and rate is None:
        fail("give --concurrency, --rate or both (ee limit delete lifts a limit)")

    async def go() -> LimitInfo:
        async with EngineClient(ctx.settings) as client:
            return await client.limit_set(name, concurrency, rate)

    info = run_async(go)
    if as_json:
        print_json(_shown(info))
    else:
        click.echo(f"limit {info.name}: {_caps(info)}")


@limit_group.command("delete")
@click.argument("name", callback=name_of("limit"))
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def limit_delete(ctx: Context, name: str, as_json: bool) -> None:
    """Delete limit NAME: its activities are unlimited from the next dispatch."""
    from ee.client import EngineClient

    async def go() -> Any:
        async with EngineClient(ctx.settings) as client:
            return await client.limit_delete(name)

    reply = run_async(go)
    if as_json:
        print_json({"name": reply.name, "deleted": reply.deleted})
    else:
        click.echo(f"limit {reply.name} deleted" if reply.deleted else f"limit {reply.name} was not set")


@limit_group.command("show")
@click.argument("name", callback=name_of("limit"))
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def limit_show(ctx: Context, name: str, as_json: bool) -> None:
    """Limit NAME: its caps, and per key the attempts running and waiting."""
    from ee.client import EngineClient

    async def go() -> LimitInfo:
        async with EngineClient(ctx.settings) as client:
            return await client.limit_show(name)

    info = run_async(go)
    if as_json:
        print_json(_shown(info))
        return
    click.echo(f"limit {info.name}: {_caps(info)}")
    print_table([{"key": k.key or "(none)", "running": k.running, "waiting": k.waiting} for k in info.keys],
                ["key", "running", "waiting"])


@limit_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def limit_list(ctx: Context, as_json: bool) -> None:
    """Every limit set or in use (a limit never set is unlimited), with the attempts running and
    waiting per key."""
    from ee.client import EngineClient

    async def go() -> Any:
        async with EngineClient(ctx.settings) as client:
            return await client.limit_list()

    infos = run_async(go).limits
    if as_json:
        print_json([_shown(i) for i in infos])
        return
    rows = []
    for info in infos:
        for k in info.keys or [None]:
            rows.append({"limit": info.name, "caps": _caps(info), "key": "" if k is None else (k.key or "(none)"),
                         "running": 0 if k is None else k.running, "waiting": 0 if k is None else k.waiting})
    print_table(rows, ["limit", "caps", "key", "running", "waiting"])
