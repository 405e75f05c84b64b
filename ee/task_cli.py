"""``ee tasks`` (the inbox) and ``ee task show|claim|complete|reassign``: human tasks.

Reads go to Redis (``ee.task_inbox``); every change goes through the reactor's ``task``
endpoint, which checks the data against the task's form and records who and when. Refusals
are one line with the exit code of ``ee.exits`` (unknown task 3; completed already, claimed by
someone else, data that does not fit the form 2; the reactor unavailable 4).
"""

from __future__ import annotations

import json
from typing import Any

import click

from ee import exits
from ee.cli import Context, fail, name_of, parse_json, pass_ctx, run_async
from ee.deployed import who
from ee.render import print_json, print_table, time_text
from ee.task_inbox import inbox, task
from shared.human_tasks import check_assignee
from shared.messages import TaskOp, TaskOpReply

__all__ = ["task_group", "tasks_command"]


def _assignee(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    problem = check_assignee(value)
    if problem is not None:
        raise click.BadParameter(problem, ctx, param)
    return value


@click.command("tasks")
@click.option("--assignee", callback=_assignee, metavar="USER|group:NAME", help="Only tasks of this assignee.")
@click.option("--overdue", is_flag=True, help="Only tasks past their due time (not escalated).")
@click.option("--limit", type=click.IntRange(min=1), default=200, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON array of tasks.")
@pass_ctx
def tasks_command(ctx: Context, assignee: str | None, overdue: bool, limit: int, as_json: bool) -> None:
    """The inbox: open human tasks, oldest first."""
    rows = inbox(ctx.inspector(), assignee, overdue, limit)
    if as_json:
        print_json(rows)
        return
    for row in rows:
        row["due_at"] = time_text(row["due"]) if row["due"] is not None else ""
        row["state"] = "overdue" if row["overdue"] else ("claimed" if row["claimed_by"] else "open")
    print_table(rows, ["task_id", "title", "assignee", "state", "claimed_by", "due_at", "parked_at"])


@click.group("task")
def task_group() -> None:
    """One human task: show, claim, complete, reassign."""


@task_group.command("show")
@click.argument("task_id", callback=name_of("event"))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_ctx
def task_show(ctx: Context, task_id: str, as_json: bool) -> None:
    """A task: its details, form, assignee, claim, due time, and its completion once done."""
    row = task(ctx.inspector(), task_id)
    if row is None:
        fail(f"unknown task {task_id!r}", exits.NOT_FOUND)
    if as_json:
        print_json(row)
        return
    for name in ("task_id", "job_id", "node", "title", "status", "assignee", "claimed_by", "claimed_at",
                 "escalate_to", "escalated_at", "completed_by", "completed_at"):
        if row.get(name):
            click.echo(f"{name}: {row[name]}")
    if row.get("due") is not None:
        click.echo(f"due: {time_text(row['due'])}{' (overdue)' if row['overdue'] else ''}")
    click.echo(f"details: {json.dumps(row.get('details'))}")
    click.echo(f"form: {json.dumps(row.get('form'))}")
    if row.get("data") is not None:
        click.echo(f"data: {json.dumps(row['data'])}")


def _send(ctx: Context, op: TaskOp, as_json: bool) -> TaskOpReply:
    from ee.client import EngineClient

    async def go() -> TaskOpReply:
        async with EngineClient(ctx.settings) as client:
            return await client.task_op(op)

    reply = run_async(go)
    if as_json:
        print_json({"task_id": reply.task_id, "status": reply.status, "assignee": reply.assignee,
                    "by": reply.by, "at": reply.at})
    return reply


_BY = click.option("--by", help="Who acts, recorded in the task and the job's history (default: user@host).")
_JSON = click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")


@task_group.command("claim")
@click.argument("task_id", callback=name_of("event"))
@_BY
@_JSON
@pass_ctx
def task_claim(ctx: Context, task_id: str, by: str | None, as_json: bool) -> None:
    """Claim a task: from now on only you may complete it (until it is reassigned)."""
    reply = _send(ctx, TaskOp(task_id=task_id, op="claim", by=by or who()), as_json)
    if not as_json:
        click.echo(f"task {reply.task_id} claimed by {reply.by}")


@task_group.command("complete")
@click.argument("task_id", callback=name_of("event"))
@click.option("--data", required=True, metavar="JSON|@FILE|-", help="The form's data: JSON, @FILE or - (stdin).")
@_BY
@_JSON
@pass_ctx
def task_complete(ctx: Context, task_id: str, data: str, by: str | None, as_json: bool) -> None:
    """Complete a task with data that fits its form; its job goes on with the data as output."""
    value: Any = parse_json(data, "--data")
    reply = _send(ctx, TaskOp(task_id=task_id, op="complete", by=by or who(), data=value), as_json)
    if not as_json:
        click.echo(f"task {reply.task_id} completed by {reply.by}")


@task_group.command("reassign")
@click.argument("task_id", callback=name_of("event"))
@click.option("--to", required=True, callback=_assignee, metavar="USER|group:NAME", help="The new assignee.")
@_BY
@_JSON
@pass_ctx
def task_reassign(ctx: Context, task_id: str, to: str, by: str | None, as_json: bool) -> None:
    """Give a task to another user or group (its claim, if any, is released)."""
    reply = _send(ctx, TaskOp(task_id=task_id, op="reassign", by=by or who(), to=to), as_json)
    if not as_json:
        click.echo(f"task {reply.task_id} reassigned to {reply.assignee}")
