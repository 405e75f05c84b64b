"""The ``ee`` command line (click).

Exit codes (``ee.exits``, docs/operations.md): 0 done, 1 the job failed or was cancelled
(``--wait``), 2 bad input, 3 not found, 4 engine unavailable, 5 timed out; every error is
one line on stderr.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, get_args

import anyio
import click
import redis

from ee import exits
from ee.cli_base import Context, fail, name_of, parse_json, pass_ctx, run_async
from ee.deployed import parse_ref, rows, submission_source, who
from ee.durations import parse_duration, parse_moment
from ee.inputs import read_text
from ee.inspect import Inspector, accepted_job, created_within, with_accepted
from ee.limit_cmds import limit_group
from ee.progress import fork_progress
from ee.render import print_json, print_table, time_text
from ee.resubmit import Submitted, check_resubmission, from_record, from_stream
from ee.waiting import Look, Progress, current_wait, describe_wait, wait_for_job
from shared.bounds import MAX_DATA_DEPTH, nested_deeper_than
from shared.build import build_id
from shared.config import redact_url
from shared.errors import EngineError, EngineUnavailable, JobNotFound, engine_error_in
from shared.flow import PRIORITY_DEFAULT, PRIORITY_MAX, PRIORITY_MIN
from shared.messages import FinalStatus
from shared.names import EVENT_KINDS, event_job
from shared.workflow import decode_workflow, json_type, workflow_warnings

if TYPE_CHECKING:
    from ee.client import EngineClient

# With the helpers of ee.cli_base, re-exported for the command modules that import them from here.
__all__ = ["Context", "fail", "main", "name_of", "parse_json", "pass_ctx", "run_async"]

T = TypeVar("T")
FINAL_STATUSES: tuple[str, ...] = get_args(FinalStatus)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--nats-url", envvar="EE_NATS_URL", help="NATS URL (env EE_NATS_URL).")
@click.option("--redis-url", envvar="EE_REDIS_URL", help="Redis URL (env EE_REDIS_URL).")
@click.option("--redis-prefix", envvar="EE_REDIS_PREFIX", help="Redis key prefix (default ee:).")
@click.option("--default-urls", is_flag=True, envvar="EE_DEFAULT_URLS",
              help="Without a stack file (.ee/stack.json here or above) or URLs: use nats://127.0.0.1:4222 "
                   "and redis://127.0.0.1:6379/0 (env EE_DEFAULT_URLS=1).")
@click.version_option(build_id(), prog_name="ee", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context, nats_url: str | None, redis_url: str | None, redis_prefix: str | None,
        default_urls: bool) -> None:
    """Execution Engine: durable workflows for bots.

    Exit codes: 0 done, 1 the job failed or was cancelled (--wait), 2 bad input,
    3 not found, 4 engine unavailable, 5 timed out."""
    ctx.obj = Context(nats_url, redis_url, redis_prefix, default_urls)


# -- services -----------------------------------------------------------------

@cli.command()
@pass_ctx
def reactor(ctx: Context) -> None:
    """Run the reactor service."""
    from reactor.main import main as reactor_main

    reactor_main(ctx.settings.require("nats", "redis"))


@cli.command()
@click.option("--grace", "grace_s", type=click.FloatRange(min=0), default=None, metavar="SECONDS",
              help="On SIGTERM, wait up to SECONDS for the jobs in hand to park or finish "
                   "(env EE_SHUTDOWN_GRACE_S, default 30).")
@pass_ctx
def executor(ctx: Context, grace_s: float | None) -> None:
    """Run the executor service."""
    from executor.main import main as executor_main

    executor_main(ctx.settings.require("nats").with_overrides(shutdown_grace_s=grace_s))


@cli.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def worker(ctx: click.Context) -> None:
    """Run a worker: --demo, --activities MODULE, --bot ID --pool POOL (see --help of python -m worker)."""
    from worker.__main__ import main as worker_main

    obj: Context = ctx.obj
    worker_main(list(ctx.args), obj.settings)


@cli.command()
@click.option("--executors", type=click.IntRange(min=0), default=1, show_default=True,
              help="Executor processes to start.")
@click.option("--bots", type=click.IntRange(min=0, max=16), default=2, show_default=True,
              help="Demo bots to start, in pool 'demo' (demo-bot-1, demo-bot-2, ...).")
@click.option("--example", "examples", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Submit this workflow once the stack is up and print its result (repeatable: in turn).")
@click.option("--input", "example_inputs", multiple=True, metavar="JSON|@FILE",
              help="Input of the example job (JSON or @FILE): the first --input goes with the first "
                   "--example, and so on; {} when not given.")
@click.pass_context
def up(ctx: click.Context, executors: int, bots: int, examples: tuple[Path, ...],
       example_inputs: tuple[str, ...]) -> None:
    """Start the embedded stack: NATS and Redis (unless URLs are given), reactor, executor, demo worker
    and demo bots."""
    from ee.up import run_stack

    if len(example_inputs) > len(examples):
        fail(f"{len(example_inputs)} --input for {len(examples)} --example: one input per example at most")
    paired: list[tuple[Path, str]] = []
    for i, example in enumerate(examples):  # refused now, not once the servers are up
        _read_workflow(example)
        job_input = example_inputs[i] if i < len(example_inputs) else "{}"
        if not isinstance(parse_json(job_input, "--input"), dict):
            fail("--input must be a JSON object")
        paired.append((example, job_input))
    # Only flags count here, not EE_NATS_URL / EE_REDIS_URL: the env may point at servers this
    # stack should not use.
    parent = ctx.parent
    flagged = [parent is not None and parent.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE
               for name in ("nats_url", "redis_url")]
    nats_url = parent.params.get("nats_url") if parent is not None and flagged[0] else None
    redis_url = parent.params.get("redis_url") if parent is not None and flagged[1] else None
    sys.exit(run_stack(nats_url, redis_url, executors, paired, bots))


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; any but loopback requires EE_UI_TOKEN.")
@click.option("--port", type=click.IntRange(1, 65535), default=8233, show_default=True)
@pass_ctx
def ui(ctx: Context, host: str, port: int) -> None:
    """Serve the web console: jobs, waits, bots, and actions on them (docs/console.md). With
    EE_UI_TOKEN set, every request must carry it (?token= once, then a cookie)."""
    import os

    from ee.console import BindRefused, serve

    try:
        serve(ctx.settings.require("nats", "redis"), host, port, os.environ.get("EE_UI_TOKEN"))
    except BindRefused as exc:
        fail(str(exc))


@cli.command()
@click.argument("which", type=click.Choice(["nats", "redis"]), required=False)
@pass_ctx
def url(ctx: Context, which: str | None) -> None:
    """Print the NATS or Redis URL in use (flags, env, or the stack file of `ee up` found in this
    folder or one above it); without WHICH: both, and where they come from."""
    s = ctx.settings
    if which == "nats":
        click.echo(s.require("nats").nats_url)
    elif which == "redis":
        click.echo(s.require("redis").redis_url)
    else:
        s.require("nats", "redis")
        click.echo(f"nats:  {redact_url(s.nats_url)}")
        click.echo(f"redis: {redact_url(s.redis_url)}")
        click.echo(f"from:  {s.stack_file or 'flags, env or defaults'}")


# -- jobs ---------------------------------------------------------------------

@cli.command()
@click.argument("file", metavar="FILE|NAME[@VERSION]")
@click.option("--input", "input_json", metavar="JSON|@FILE|-", help="Job input: JSON, @FILE or - (stdin).")
@click.option("--job-id", callback=name_of("job"),
              help="Choose the job id (the same submission again starts nothing new; another workflow "
                   "or input under a taken id is refused).")
@click.option("--wait", is_flag=True, help="Wait for the job to finish; exit 0 completed, 1 failed or cancelled.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              help="With --wait: give up after SECONDS (exit 5; the job goes on).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--priority", type=click.IntRange(PRIORITY_MIN, PRIORITY_MAX), default=PRIORITY_DEFAULT,
              show_default=True, help="1 (most urgent) .. 9: the order in which waiters get a bot or a limit's slot.")
@click.option("--not-before", metavar="TIME", help="Start at TIME (ISO-8601 with its zone); a past time: now.")
@click.option("--delay", metavar="DURATION", help="Start after DURATION (30s, 5m, 2h).")
@click.option("--deadline", metavar="DURATION|TIME", help="Flag the job overdue if not finished by then.")
@pass_ctx
def submit(ctx: Context, file: str, input_json: str | None, job_id: str | None, wait: bool,
           timeout: float | None, as_json: bool, priority: int = PRIORITY_DEFAULT, not_before: str | None = None,
           delay: str | None = None, deadline: str | None = None) -> None:
    """Submit the workflow in FILE (- for stdin), or the deployed workflow NAME (its latest
    version, or VERSION), as a new job."""
    from ee.client import EngineClient

    timing = submit_timing(not_before, delay, deadline)  # flow control: one line and exit 2 when bad

    if file == "-" and input_json == "-":
        fail("FILE and --input cannot both be - (standard input)")
    if timeout is not None and not wait:
        fail("--timeout is how long --wait waits: give --wait too")
    source = submission_source(file)
    if isinstance(source, Path) and file != "-" and source.is_dir():
        fail(f"{file} is a directory: give a workflow file, or a deployed workflow's NAME[@VERSION]")
    read = _read_workflow(source) if isinstance(source, Path) else None
    job_input = parse_json(input_json, "--input")
    if job_input is None:
        job_input = {}
    if not isinstance(job_input, dict):
        fail(f"--input must be a JSON object, not {json_type(job_input)}")
    first = None if job_id is None else _recorded_submission(ctx, job_id)

    async def go() -> dict[str, Any]:
        async with EngineClient(ctx.settings) as client:
            if read is not None:
                workflow = read
            else:
                assert not isinstance(source, Path)
                workflow = json.loads((await client.deployed(*source)).workflow)
            known = first
            if job_id is not None and known is None:
                known = await _accepted_submission(client, job_id)
            if job_id is not None and known is not None:
                check_resubmission(job_id, workflow, job_input, known)  # the same again: nothing to send
                jid = job_id
            else:
                jid = await client.submit(workflow, job_input, job_id, not_before=timing.not_before,
                                          deadline=timing.deadline,
                                          priority=priority)
            if not wait:
                return {"job_id": jid, "status": "pending" if known is None else known.status, "output": None,
                        "error": None}
            view = await wait_for_job(client, jid, timeout, _looker(ctx), Progress())
            return {"job_id": jid, "status": view.status, "output": view.output, "error": view.error}

    result = run_async(go)
    if as_json:
        print_json(result)
    elif wait:
        click.echo(f"job {result['job_id']} {result['status']}")
        if result["error"]:
            click.echo(f"error: {result['error']}")
        click.echo(json.dumps(result["output"], indent=2))
    else:
        click.echo(result["job_id"])
    if wait and result["status"] != "completed":
        sys.exit(exits.FAILED)


def _read_workflow(file: Path) -> dict[str, Any]:
    """The workflow object in FILE (``-``: stdin), checked as this build's executors will check it."""
    try:
        text = read_text("-", "FILE") if str(file) == "-" else file.read_text()
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror}")
    except ValueError as exc:  # not UTF-8, nothing piped in
        fail(f"{file} is not valid JSON: {exc}" if isinstance(exc, UnicodeDecodeError) else str(exc))
    if nested_deeper_than(text, MAX_DATA_DEPTH):
        fail(f"invalid workflow: {file} is nested more than {MAX_DATA_DEPTH} levels deep (the limit)")
    try:
        workflow = json.loads(text)
    except ValueError as exc:
        fail(f"{file} is not valid JSON: {exc}")
    if not isinstance(workflow, dict):
        fail(f"invalid workflow: {file} holds {json_type(workflow)}; a workflow is a JSON object")
    try:
        decoded = decode_workflow(workflow)  # refused here, before any connection, with the node and field
    except EngineError as exc:
        fail(str(exc))
    for warning in workflow_warnings(decoded):  # suspect, not wrong: said, and the workflow goes on
        click.echo(f"ee: warning: {warning}", err=True)
    return workflow


def _looker(ctx: Context) -> Look | None:
    """How ``--wait`` finds the job's current wait in words: from Redis, opened on the first look
    (a wait that needs no words, off a terminal and in time, never reaches for it); None when
    the settings hold no Redis URL."""
    if "redis" in ctx.settings.unresolved:
        return None
    opened: list[Inspector | None] = []

    def look(job_id: str) -> str:
        if not opened:
            try:
                opened.append(ctx.inspector())
            except EngineError:
                opened.append(None)  # unreachable, or not this user's: asked once, not every second
        inspector = opened[0]
        if inspector is None:
            return ""
        return current_wait(inspector.job(job_id, history=False), inspector.events(job=job_id))

    return look


def _recorded_submission(ctx: Context, job_id: str) -> Submitted | None:
    """What Redis records of a job id, if Redis can be asked (submitting needs only NATS)."""
    try:
        record = ctx.inspector().job(job_id, history=False)
    except (EngineError, redis.RedisError):
        return None
    return None if record is None else from_record(record)


async def _accepted_submission(client: EngineClient, job_id: str) -> Submitted | None:
    """The job id's message still waiting in the jobs stream, if the search ends soon."""
    try:
        found = await client.accepted(job_id, give_up_after=3.0)
    except TimeoutError:
        return None
    return None if found is None else from_stream(found["data"])


@cli.command()
@click.argument("job_id", callback=name_of("job"))
@click.option("--follow", "-f", is_flag=True,
              help="Then print each new history entry until the job ends (exit 0 completed, 1 failed or "
                   "cancelled); with --json one JSON object per line.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def status(ctx: Context, job_id: str, follow: bool, as_json: bool) -> None:
    """Show a job, what it waits on, its output and its history (a job accepted that no executor
    has taken yet: pending, found in the jobs stream)."""
    inspector = ctx.inspector()
    job = inspector.job(job_id) or _accepted_job(ctx, job_id, inspector)
    waits = inspector.events(job=job_id) if job.get("events") else []
    _mark_unserved(ctx, job, waits)
    job["waits"] = [{**wait, "waits_on": describe_wait(wait), "since": wait.get("parked_at")} for wait in waits]
    job["progress"] = fork_progress(job.get("checkpoint")) if job.get("status") not in FINAL_STATUSES else []
    if follow:
        job.pop("history", None)
    if as_json:
        print_json(job)
    else:
        _print_status(job)
    if follow:
        sys.exit(_follow(inspector, job_id, as_json))


def _print_status(job: dict[str, Any]) -> None:
    for key in ("job_id", "status", "refused", "waiting_for", "waiting_reason", "name", "version", "fence",
                "retries", "build", "created", "accepted", "updated", "stranded", "error"):
        if job.get(key) not in (None, ""):
            click.echo(f"{key:>9}: {job[key]}")
    print_clock_fields(job)
    click.echo(f"{'output':>9}: {json.dumps(job.get('output'))}")
    trimmed = job.get("history_trimmed") or 0
    if trimmed:
        click.echo(f"{'history':>9}: {trimmed} earliest entries dropped (capped by the reactor's EE_HISTORY_MAX)")
    for wait in job.get("unserved") or []:
        click.echo(f"{'unserved':>9}: {wait['event_id']} (node {wait['node']}): {wait['unserved']}")
    if job.get("progress"):
        print_table(job["progress"], ["node", "kind", "done", "failed", "running", "waiting", "of"],
                    title="branches in flight")
    if job["waits"]:
        print_table(job["waits"], ["event_id", "node", "branch", "kind", "waits_on", "since", "attempt", "deadline"],
                    title="open waits")
    if "history" in job:
        print_table(job["history"], ["at", "node", "event", "build", "detail"], title="history")


def _follow(inspector: Inspector, job_id: str, as_json: bool) -> int:
    """Print the job's history from its start, then each new entry, until the job is completed,
    failed or cancelled; the exit code of ``--wait``."""
    from ee.client import FINAL

    if not as_json:
        click.echo("history:")
    after = "0-0"
    while True:
        status = inspector.status(job_id)  # read before the entries: a final one is followed by nothing
        for entry_id, entry in inspector.history_after(job_id, after, block_s=1.0):
            after = entry_id
            if as_json:
                print_json({"job_id": job_id, **entry})
            else:
                click.echo("  ".join(str(v) for v in (entry.get("at"), entry.get("node") or "-", entry.get("event"),
                                                      entry.get("build"), entry.get("detail")) if v))
        if status in FINAL:
            if not as_json:
                click.echo(f"job {job_id} {status}")
            return exits.OK if status == "completed" else exits.FAILED


def _mark_unserved(ctx: Context, job: dict[str, Any], waits: list[dict[str, Any]]) -> None:
    """``unserved``: the job's parked activities that no live worker serves (``ee workers``);
    left out when NATS cannot be asked."""
    from ee.workers import unserved_waits

    if waits:
        found = unserved_waits(ctx.settings, waits)
        if found is not None:
            job["unserved"] = found


def _accepted_job(ctx: Context, job_id: str, inspector: Inspector) -> dict[str, Any]:
    """A job Redis knew nothing of: pending if its message waits in the jobs stream (accepted,
    no executor has taken it yet), else the job Redis holds now (an executor started it and
    took its message out of the stream in between the two looks), else fail with "unknown job"."""
    from ee.client import EngineClient

    async def go() -> dict[str, Any] | None:
        async with EngineClient(ctx.settings) as client:
            return await client.accepted(job_id)

    try:
        found = anyio.run(go)
    except (EngineError, BaseExceptionGroup, TimeoutError, OSError) as exc:
        why = engine_error_in(exc) or exc
        fail(f"unknown job {job_id!r} (not in Redis; the jobs stream could not be searched: {why})",
             exits.exit_code(why) if isinstance(why, EngineError) else exits.UNAVAILABLE)
    if found is None:
        started = inspector.job(job_id)
        if started is None:
            raise JobNotFound(job_id)
        return started
    return accepted_job(job_id, found)


JOB_STATUSES = ("pending", "running", "parked", "completed", "failed", "cancelled", "stranded")


def _job_status(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None or value in JOB_STATUSES:
        return value
    hint = (" (a job whose wait is over shows as parked until an executor takes it: the ee_jobs gauge's "
            "'waking')") if value == "waking" else ""
    raise click.BadParameter(f"{value!r} is not a job status: use one of {', '.join(JOB_STATUSES)}{hint}",
                             ctx, param)


def _moment(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    try:
        return None if value is None else parse_moment(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from exc


@cli.command()
@click.option("--status", "status_filter", callback=_job_status,
              help="Only jobs with this status (pending, running, parked, completed, failed, cancelled) or 'stranded'.")
@click.option("--workflow", callback=name_of("workflow"), help="Only jobs of this workflow name.")
@click.option("--since", callback=_moment, metavar="WHEN",
              help="Only jobs created at or after WHEN: a duration ago (30m, 2d) or an ISO-8601 time.")
@click.option("--until", callback=_moment, metavar="WHEN", help="Only jobs created before WHEN (as --since).")
@click.option("--after", callback=name_of("job"), metavar="JOB_ID",
              help="The next page: the jobs listed after JOB_ID (the last row of the page before).")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True,
              help="At most N jobs (of those that match).")
@click.option("--overdue", is_flag=True, help="Only jobs flagged overdue (past their deadline), latest first.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def jobs(ctx: Context, status_filter: str | None, workflow: str | None, since: float | None, until: float | None,
         after: str | None, limit: int, as_json: bool, overdue: bool = False) -> None:
    """List the newest jobs. With --status: the jobs of that status, however old, newest to take
    it first (from a per-status index); stranded: newest stranded first. Jobs accepted that no
    executor has taken yet (in the jobs stream only) are listed as pending on the first page
    (without --workflow)."""
    if since is not None and until is not None and since >= until:
        fail("--since must be before --until")
    inspector = ctx.inspector()
    if overdue:
        return print_overdue(inspector, limit, as_json)
    rows = inspector.jobs(limit, status_filter, workflow=workflow, since=since, until=until, after=after)
    if status_filter in (None, "pending") and workflow is None and after is None:
        rows = [row for row in _with_accepted_jobs(ctx, inspector, rows, limit)
                if created_within(row, since, until)]
    if as_json:
        print_json(rows)
        return
    print_table(rows, ["job_id", "status", "name", "version", "fence", "created", "updated", "stranded",
                       "waiting_reason", "error"])
    if len(rows) == limit and sys.stderr.isatty():
        click.echo(f"ee: more may follow: add --after {rows[-1]['job_id']}", err=True)


def _with_accepted_jobs(ctx: Context, inspector: Inspector, rows: list[dict[str, Any]],
                        limit: int) -> list[dict[str, Any]]:
    """``rows`` with the jobs found only in the jobs stream among them; without them (and a
    warning) when NATS cannot be reached."""
    from ee.client import EngineClient

    async def known(job_ids: list[str]) -> set[str]:
        return inspector.known(job_ids)

    async def go() -> tuple[list[dict[str, Any]], bool]:
        async with EngineClient(ctx.settings) as client:
            return await client.accepted_jobs(limit, known)

    try:
        accepted, complete = anyio.run(go)
    except (EngineError, BaseExceptionGroup, TimeoutError, OSError) as exc:
        why = engine_error_in(exc) or exc
        click.echo(f"ee: jobs accepted that no executor has taken yet are not listed (the jobs stream could "
                   f"not be searched: {why})", err=True)
        return rows
    if not complete:
        click.echo("ee: the jobs stream was not searched to its oldest message: older jobs no executor has "
                   "taken yet may be missing", err=True)
    return with_accepted(rows, accepted, limit)


def _events_limit(ctx: click.Context, param: click.Parameter, value: str | None) -> str | int | None:
    """``--limit``: a number is how many events at most (as before limits had names), else a limit's name."""
    if value is None:
        return None
    if value.lstrip("-").isdigit():
        if int(value) < 1:
            raise click.BadParameter(f"{value} is not in the range x>=1", ctx, param)
        return int(value)
    return name_of("limit")(ctx, param, value)


@cli.command()
@click.option("--job", callback=name_of("job"), help="Events of one job.")
@click.option("--kind", type=click.Choice(EVENT_KINDS))
@click.option("--activity", callback=name_of("activity"))
@click.option("--pool", callback=name_of("pool"))
@click.option("--bot", callback=name_of("bot"))
@click.option("--older-than", help="Parked longer than a duration: 30s, 5m, 1h.")
@click.option("--stranded", is_flag=True, help="Only events of stranded jobs (nobody resumes them).")
@click.option("--limit", "limit_arg", metavar="NAME|N", callback=_events_limit,
              help="The attempts running under limit NAME or waiting for it; a number N: at most N events.")
@click.option("--max", "most", type=click.IntRange(min=1), default=None, help="At most N events (default: all).")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def events(ctx: Context, job: str | None, kind: str | None, activity: str | None, pool: str | None,
           bot: str | None, older_than: str | None, stranded: bool, limit_arg: str | int | None, most: int | None,
           as_json: bool) -> None:
    """List open events (parked or fired, not yet consumed), oldest first, from Redis indexes
    (per job, activity, pool, bot, limit and kind, by park time); an event of a stranded job carries
    the job's reason in `stranded`. A waiter for a bot or a limit's slot shows its priority and
    its place in line (1: served next)."""
    try:
        age = None if older_than is None else parse_duration(older_than)
    except ValueError as exc:
        fail(str(exc))
    limit_name = limit_arg if isinstance(limit_arg, str) else None
    count = limit_arg if isinstance(limit_arg, int) else most
    rows = ctx.inspector().events(job, kind, activity, pool, bot, age, limit=count, stranded=stranded,
                                  limit_name=limit_name)
    from ee.workers import annotate_unserved

    annotate_unserved(ctx.settings, rows)  # `unserved` on a parked activity no live worker serves
    if as_json:
        print_json(rows)
    else:
        for row in rows:
            until = row.get("deadline") and f"until {time_text(row['deadline'])}"
            row["waits_on"] = row.get("activity") or row.get("signal") or row.get("pool") or row.get("child") or until
            if row.get("phase") == "waiting_capacity":
                row["status"] = "waiting_capacity"
                key = f" [{row['limit_key']}]" if row.get("limit_key") else ""
                row["waits_on"] = f"limit {row.get('limit')}{key}"
        print_table(rows, ["event_id", "node", "branch", "kind", "status", "attempt", "waits_on", "bot", "priority",
                           "place", "age_s", "stranded", "unserved"])



@cli.command()
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def deadletter(ctx: Context, limit: int, as_json: bool) -> None:
    """Messages the engine refused, and why (newest first)."""
    rows = ctx.inspector().deadletters(limit)
    if as_json:
        print_json(rows)
    else:
        print_table(rows, ["at", "subject", "reason", "data"])


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def bots(ctx: Context, as_json: bool) -> None:
    """Bots by pool: who holds each, who waits."""
    rows = ctx.inspector().bots()
    if as_json:
        print_json(rows)
    else:
        print_table(rows, ["bot", "pool", "alive", "holder", "lease_until", "worker", "waiting"])


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def workers(ctx: Context, as_json: bool) -> None:
    """Live workers (bots and others), what each serves and when it was last seen (NATS bucket EE_WORKERS)."""
    from ee.workers import read_workers

    try:
        rows = read_workers(ctx.settings)
    except EngineError as exc:
        fail(str(exc))
    if as_json:
        print_json(rows)
    else:
        shown = [{**row, "activities": ", ".join(row["activities"])} for row in rows]
        print_table(shown, ["worker", "activities", "bot", "pool", "running", "concurrency", "host", "pid",
                            "started", "last_seen"])


@cli.command()
@click.argument("job_id", callback=name_of("job"))
@click.option("--reason", default="cancelled by operator")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_ctx
def cancel(ctx: Context, job_id: str, reason: str, as_json: bool) -> None:
    """Cancel a job: drop its waits, release its bots."""
    from ee.client import EngineClient

    async def go() -> None:
        async with EngineClient(ctx.settings) as client:
            await client.cancel(job_id, reason)

    run_async(go)
    if as_json:
        print_json({"job_id": job_id, "status": "cancelled", "reason": reason})
    else:
        click.echo(f"job {job_id} cancelled")


@cli.command()
@click.argument("job_id", callback=name_of("job"))
@click.argument("name", callback=name_of("signal"))
@click.option("--data", metavar="JSON|@FILE|-", help="Signal payload: JSON, @FILE or - (stdin).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_ctx
def signal(ctx: Context, job_id: str, name: str, data: str | None, as_json: bool) -> None:
    """Send signal NAME to a job (kept in its inbox if it is not waiting yet)."""
    from ee.client import EngineClient

    payload = parse_json(data, "--data")

    async def go() -> Any:
        async with EngineClient(ctx.settings) as client:
            return await client.signal(job_id, name, payload)

    reply = run_async(go)
    if as_json:
        print_json({"job_id": job_id, "signal": name, "delivered": reply.delivered, "buffered": reply.buffered})
    else:
        click.echo(f"signal {name} {'delivered' if reply.delivered else 'kept in the inbox of'} job {job_id}")


@cli.group()
def event() -> None:
    """Act on one parked wait (fenced, recorded in the job's history)."""


def _event_op(ctx: Context, as_json: bool, **fields: Any) -> None:
    from ee.client import EngineClient
    from shared.messages import EventOp

    async def go() -> Any:
        async with EngineClient(ctx.settings) as client:
            return await client.event_op(EventOp(**fields))

    reply = run_async(go)
    if as_json:
        print_json({"event_id": reply.event_id, "job_id": event_job(reply.event_id), "op": fields["op"],
                    "status": reply.status})
    else:
        click.echo(f"event {reply.event_id}: {reply.status}")


@event.command("resolve")
@click.argument("event_id", callback=name_of("event"))
@click.option("--data", metavar="JSON|@FILE|-", help="Result: JSON, @FILE or - (stdin).")
@click.option("--by", help="Who acts, for the job's history (default: user@host).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_ctx
def event_resolve(ctx: Context, event_id: str, data: str | None, by: str | None, as_json: bool) -> None:
    """Fire a parked wait with a successful result."""
    _event_op(ctx, as_json, event_id=event_id, op="resolve", data=parse_json(data, "--data"), by=by or who())


@event.command("fail")
@click.argument("event_id", callback=name_of("event"))
@click.option("--error", required=True)
@click.option("--by", help="Who acts, for the job's history (default: user@host).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_ctx
def event_fail(ctx: Context, event_id: str, error: str, by: str | None, as_json: bool) -> None:
    """Fire a parked wait with an error."""
    _event_op(ctx, as_json, event_id=event_id, op="fail", error=error, by=by or who())


@event.command("extend")
@click.argument("event_id", callback=name_of("event"))
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0, min_open=True), required=True,
              help="New timeout from now, seconds.")
@click.option("--by", help="Who acts, for the job's history (default: user@host).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_ctx
def event_extend(ctx: Context, event_id: str, timeout_s: float, by: str | None, as_json: bool) -> None:
    """Give a parked wait a timeout of TIMEOUT seconds from now (an activity: its running
    attempt's); refused for an activity waiting out a retry backoff (no attempt runs)."""
    _event_op(ctx, as_json, event_id=event_id, op="extend", timeout_s=timeout_s, by=by or who())


@cli.command()
@click.option("--older-than", "older_than", required=True, metavar="DURATION",
              help="Finished longer ago than a duration: 30s, 5m, 1h, 7d (0: every finished job).")
@click.option("--status", "statuses", multiple=True, type=click.Choice(FINAL_STATUSES),
              help="Only jobs of this final status (repeatable; default: all three).")
@click.option("--dry-run", is_flag=True, help="Count the jobs that would go; remove nothing.")
@click.option("--batch", type=click.IntRange(1, 1000), default=100, show_default=True,
              help="Jobs per Redis script (each batch is one short step).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_ctx
def purge(ctx: Context, older_than: str, statuses: tuple[str, ...], dry_run: bool, batch: int,
          as_json: bool) -> None:
    """Remove finished jobs (completed, failed, cancelled: never running, parked or pending
    ones) with their history, by hand, in bounded batches (the reactor's `purge` endpoint).
    EE_RETENTION removes them by itself; this is for now, or for a shorter age."""
    from ee.client import EngineClient
    from shared.messages import PurgeRequest

    try:
        age = parse_duration(older_than)
    except ValueError as exc:
        fail(str(exc))
    chosen = list(statuses or FINAL_STATUSES)

    async def go() -> dict[str, int]:
        removed = dict.fromkeys(chosen, 0)
        async with EngineClient(ctx.settings) as client:
            while True:
                reply = await client.purge(PurgeRequest(older_than_s=age, statuses=chosen,  # type: ignore[arg-type]
                                                        dry_run=dry_run, batch=batch))
                for status, n in reply.removed.items():
                    removed[status] = removed.get(status, 0) + n
                if dry_run or not reply.more:
                    return removed

    removed = run_async(go)
    total = sum(removed.values())
    if as_json:
        print_json({"removed": 0 if dry_run else total, "would_remove": total if dry_run else 0,
                    "by_status": removed, "older_than_s": age, "dry_run": dry_run})
    else:
        detail = ", ".join(f"{status} {n}" for status, n in removed.items())
        click.echo(f"{'would remove' if dry_run else 'removed'} {total} finished jobs ({detail})")


@cli.command()
@click.argument("job_id", callback=name_of("job"))
@click.option("--from", "from_node", callback=name_of("node"), metavar="NODE",
              help="Resume at this top-level node of the job's workflow (default: the node that failed).")
@click.option("--by", help="Who retries it, for the job's history (default: user@host).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_ctx
def retry(ctx: Context, job_id: str, from_node: str | None, by: str | None, as_json: bool) -> None:
    """Run a failed job again: from the node that failed (or --from NODE), with its variables as
    they were there. Only a failed job; recorded in its history and counted in its `retries`."""
    from ee.client import EngineClient

    async def go() -> Any:
        async with EngineClient(ctx.settings) as client:
            return await client.retry(job_id, from_node or "", by or who())

    reply = run_async(go)
    if as_json:
        print_json({"job_id": reply.job_id, "status": reply.status, "node": reply.node, "retries": reply.retries,
                    "fence": reply.fence})
    else:
        click.echo(f"job {reply.job_id} retried from node {reply.node} (retry {reply.retries})")


# -- deployed workflows ---------------------------------------------------------

def _workflow_ref(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, int]:
    ref = parse_ref(value)
    if ref is None:
        raise click.BadParameter(f"{value!r} is not NAME or NAME@VERSION (a workflow name, a version from 1)",
                                 ctx, param)
    return ref


@cli.group("workflow")
def workflow_group() -> None:
    """Deployed workflows: deploy a version, list them, show one (`ee submit NAME[@VERSION]` runs one)."""


@workflow_group.command("deploy")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--by", help="Who deploys it, recorded with the version (default: user@host).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_ctx
def workflow_deploy(ctx: Context, file: Path, by: str | None, as_json: bool) -> None:
    """Deploy the workflow in FILE under its name and version. A version never changes: the same
    content again changes nothing; other content needs a higher `version`."""
    from ee.client import EngineClient

    body = _read_workflow(file)

    async def go() -> Any:
        async with EngineClient(ctx.settings) as client:
            return await client.deploy(body, by or who())

    reply = run_async(go)
    if as_json:
        print_json({"name": reply.name, "version": reply.version, "digest": reply.digest, "created": reply.created})
    elif reply.created:
        click.echo(f"deployed {reply.name} version {reply.version} (digest {reply.digest})")
    else:
        click.echo(f"{reply.name} version {reply.version} is deployed with this content already: nothing changed")


@workflow_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def workflow_list(ctx: Context, as_json: bool) -> None:
    """Deployed workflows, the most recently deployed first, with their versions."""
    from ee.client import EngineClient

    async def go() -> Any:
        async with EngineClient(ctx.settings) as client:
            return await client.deployments()

    listed = rows(run_async(go).workflows)
    if as_json:
        print_json(listed)
        return
    table = [{"name": w["name"], "latest": w["latest"], "versions": len(w["versions"]),
              "deployed_at": w["versions"][-1]["deployed_at"], "deployed_by": w["versions"][-1]["deployed_by"]}
             for w in listed]
    print_table(table, ["name", "latest", "versions", "deployed_at", "deployed_by"])


@workflow_group.command("show")
@click.argument("ref", metavar="NAME[@VERSION]", callback=_workflow_ref)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def workflow_show(ctx: Context, ref: tuple[str, int], as_json: bool) -> None:
    """One deployed workflow (its latest version, or VERSION): when and by whom it was deployed, and its JSON."""
    from ee.client import EngineClient

    async def go() -> tuple[Any, Any]:
        async with EngineClient(ctx.settings) as client:
            found = await client.deployed(*ref)
            return found, await client.deployments(found.name)

    found, listed = run_async(go)
    versions = [v for w in listed.workflows for v in w.versions]
    this = next((v for v in versions if v.version == found.version), None)
    shown = {"name": found.name, "version": found.version, "latest": max((v.version for v in versions),
                                                                        default=found.version),
             "versions": [v.version for v in versions], "digest": found.digest,
             "deployed_at": this.deployed_at if this else "", "deployed_by": this.deployed_by if this else "",
             "workflow": json.loads(found.workflow)}
    if as_json:
        print_json(shown)
        return
    for key in ("name", "version", "latest", "versions", "digest", "deployed_at", "deployed_by"):
        value = ", ".join(map(str, shown[key])) if key == "versions" else shown[key]
        click.echo(f"{key:>11}: {value}")
    click.echo(json.dumps(shown["workflow"], indent=2))


@cli.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def bench(ctx: click.Context) -> None:
    """Benchmark the engine against the raw parts (see --help of python -m benchmarks)."""
    from benchmarks.__main__ import main as bench_main

    bench_main(list(ctx.args))


# -- flow control: the clock (ee.schedules, ee.clock_cli) ----------------------------------

from ee.clock_cli import print_clock_fields, print_overdue, submit_timing  # noqa: E402 - this section's own
from ee.schedules import schedule  # noqa: E402

cli.add_command(schedule)


def _unavailable(exc: Exception) -> EngineUnavailable | None:
    """What NATS's or Redis's client raised past the engine's own wrapping, as the engine's error."""
    if isinstance(exc, redis.RedisError):
        return EngineUnavailable("Redis", str(exc) or type(exc).__name__)
    nats_errors = sys.modules.get("nats.errors")
    if nats_errors is not None and isinstance(exc, nats_errors.Error):
        return EngineUnavailable("NATS", str(exc) or type(exc).__name__)
    return None


cli.add_command(limit_group)
def _add_task_commands() -> None:
    # Their own module (ee.task_cli), which uses this one's helpers: added once both exist.
    from ee.task_cli import task_group, tasks_command

    cli.add_command(tasks_command)
    cli.add_command(task_group)


_add_task_commands()


def main() -> None:
    """Run ``ee``: every refusal is one line on stderr with the exit code of ``ee.exits``."""
    try:
        code = cli.main(prog_name="ee", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:  # a group without its command
        group = exc.ctx.command if exc.ctx is not None else cli
        names = ", ".join(group.list_commands(exc.ctx)) if isinstance(group, click.Group) and exc.ctx else ""
        where = exc.ctx.command_path if exc.ctx is not None else "ee"
        fail(f"missing command{f' (one of: {names})' if names else ''}. See '{where} --help'.")
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "ee"
        fail(f"{exc.format_message()} See '{where} --help'.")
    except click.ClickException as exc:
        fail(exc.format_message(), exc.exit_code)
    except click.Abort:
        fail("interrupted", 130)
    except EngineError as exc:
        fail(str(exc), exits.exit_code(exc))
    except BaseExceptionGroup as exc:
        found = engine_error_in(exc)
        if found is None:
            raise
        fail(str(found), exits.exit_code(found))
    except Exception as exc:
        unavailable = _unavailable(exc)
        if unavailable is None:
            raise
        fail(str(unavailable), exits.UNAVAILABLE)
    if isinstance(code, int) and code:
        sys.exit(code)
