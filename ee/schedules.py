"""``ee schedule add|list|show|pause|resume|delete|trigger`` (docs/operations.md, "Schedules").

Everything is checked here first (the cron expression and zone with the reactor's own cron
library, the workflow file as executors check it), so bad input is one line and exit 2 before
anything is sent; the reactor checks it all again.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click

from ee import exits
from ee.inputs import read_json
from ee.render import print_json, print_table
from shared.cron import check_cron
from shared.durations import parse_duration
from shared.errors import EngineError, InvalidName
from shared.messages import (
    ScheduleAddRequest,
    ScheduleList,
    ScheduleListRequest,
    ScheduleOpRequest,
    ScheduleView,
    encode,
)
from shared.naming import check_name
from shared.workflow import decode_workflow

if TYPE_CHECKING:
    from ee.cli import Context

__all__ = ["schedule"]


def _fail(message: str) -> None:
    click.echo(f"ee: {message}", err=True)
    sys.exit(exits.BAD_INPUT)


def _name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        return check_name("schedule", value)
    except InvalidName as exc:
        raise click.BadParameter(str(exc), ctx, param) from exc


def _workflow_ref(value: str) -> tuple[str, int, dict[str, Any] | None]:
    """``NAME[@VERSION]`` of a deployed workflow, or a workflow FILE (stored with the schedule)."""
    path = Path(value)
    if value.endswith(".json") or path.is_file():
        try:
            workflow = read_json(f"@{value}", "--workflow")
        except ValueError as exc:
            _fail(str(exc))
        if not isinstance(workflow, dict):
            _fail(f"--workflow {value}: a workflow is a JSON object")
        try:
            decode_workflow(workflow)
        except EngineError as exc:
            _fail(str(exc))
        return "", 0, workflow
    name, _, version = value.partition("@")
    try:
        check_name("workflow", name)
    except InvalidName as exc:
        _fail(f"--workflow: {exc} (or give a workflow FILE)")
    if version and not (version.isdigit() and int(version) > 0):
        _fail(f"--workflow {value!r}: the version after @ is a positive whole number")
    return name, int(version or 0), None


def _call(ctx: Context, op: str, request: Any, reply: type[Any]) -> Any:
    from ee.cli import run_async
    from ee.client import EngineClient

    async def go() -> Any:
        async with EngineClient(ctx.settings) as client:
            return await client.reactor.call(op, request, reply, patience=10)

    return run_async(go)


def _print(view: ScheduleView, as_json: bool) -> None:
    if as_json:
        click.echo(encode(view).decode())
        return
    state = "paused" if view.paused else "active"
    click.echo(f"schedule {view.name} ({state}): {view.cron} in {view.tz}, workflow {view.workflow}")
    click.echo(f"overlap {view.overlap}, catch-up {view.catchup_s:g}s")
    click.echo(f"fired {view.fired}, skipped {view.skipped} (overlap), missed {view.missed} (outside catch-up)")
    if view.buffered:
        click.echo(f"buffered: the fire of {view.buffered} starts when the running job ends")
    if view.last_job:
        click.echo(f"last fire {view.last_fire}: job {view.last_job}")
    if view.next_fires:
        click.echo("next fires:")
        for at in view.next_fires:
            click.echo(f"  {at}")


@click.group()
def schedule() -> None:
    """Start a workflow on a cron clock, in a time zone."""


@schedule.command("add")
@click.argument("name", callback=_name)
@click.option("--cron", "cron", required=True, help="Five fields: minute hour day month weekday.")
@click.option("--tz", default="UTC", show_default=True, help="IANA time zone (Europe/Berlin).")
@click.option("--workflow", "workflow", required=True, metavar="NAME[@VERSION]|FILE",
              help="A deployed workflow (its latest version unless @VERSION), or a workflow FILE.")
@click.option("--input", "input_json", metavar="JSON|@FILE|-", help="Input of every job it starts.")
@click.option("--overlap", type=click.Choice(["skip", "buffer_one", "allow_all"]), default="skip",
              show_default=True, help="A fire while the last job still runs: skipped, one kept, or started.")
@click.option("--catchup", default="60s", show_default=True, metavar="DURATION",
              help="Fire times missed while no reactor ran start if at most this old; older ones are counted.")
@click.option("--replace", is_flag=True, help="Replace the schedule of that name (its counters stay).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def add(ctx: Context, name: str, cron: str, tz: str, workflow: str, input_json: str | None, overlap: str,
        catchup: str, replace: bool, as_json: bool) -> None:
    """Add schedule NAME."""
    try:
        check_cron(cron, tz)
        catchup_s = parse_duration(catchup)
    except ValueError as exc:
        _fail(str(exc))
    try:
        job_input = read_json(input_json, "--input") if input_json else {}
    except ValueError as exc:
        _fail(str(exc))
    if not isinstance(job_input, dict):
        _fail("--input must be a JSON object")
    wf_name, wf_version, inline = _workflow_ref(workflow)
    view = _call(ctx, "schedule_add", ScheduleAddRequest(
        name=name, cron=cron, tz=tz, workflow_name=wf_name, workflow_version=wf_version, workflow=inline,
        input=job_input, overlap=cast(Any, overlap), catchup_s=catchup_s, replace=replace), ScheduleView)
    _print(view, as_json)


def _op(op: str, doc: str) -> None:
    @schedule.command(op, help=doc)
    @click.argument("name", callback=_name)
    @click.option("--json", "as_json", is_flag=True)
    @click.pass_obj
    def command(ctx: Context, name: str, as_json: bool) -> None:
        view = _call(ctx, "schedule_op", ScheduleOpRequest(name=name, op=cast(Any, op)), ScheduleView)
        if op == "trigger" and not as_json:
            click.echo(f"schedule {name} triggered: job {view.job_id}")
        elif op in ("pause", "resume", "delete") and not as_json:
            click.echo(f"schedule {name} {'deleted' if op == 'delete' else op + 'd'}")
        else:
            _print(view, as_json)


for _each, _doc in (("show", "Show schedule NAME with its next five fire times."),
                    ("pause", "Pause schedule NAME (fire times while paused are not caught up)."),
                    ("resume", "Resume schedule NAME from now on."),
                    ("delete", "Delete schedule NAME (the jobs it started go on)."),
                    ("trigger", "Start a job of schedule NAME now, whatever runs.")):
    _op(_each, _doc)


@schedule.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def list_(ctx: Context, as_json: bool) -> None:
    """List the schedules."""
    found: ScheduleList = _call(ctx, "schedule_list", ScheduleListRequest(), ScheduleList)
    rows = [{"name": v.name, "state": "paused" if v.paused else "active", "cron": v.cron, "tz": v.tz,
             "workflow": v.workflow, "overlap": v.overlap, "next": v.next_fires[0] if v.next_fires else "",
             "fired": v.fired, "skipped": v.skipped, "missed": v.missed, "last_job": v.last_job}
            for v in found.schedules]
    if as_json:
        print_json([{**row, **{"next_fires": v.next_fires, "buffered": v.buffered}}
                    for row, v in zip(rows, found.schedules, strict=True)])
        return
    print_table(rows, list(rows[0]) if rows else ["name", "state", "cron", "tz", "workflow", "next"])
