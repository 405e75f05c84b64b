"""The public Python client: submit jobs, wait for them, signal, cancel, list (docs/client.md).

``Client`` is an async context manager; ``SyncClient`` is the same client for code
without an event loop (it runs the async one on a private event-loop thread).

Configured like ``ee``: arguments, then ``EE_NATS_URL`` / ``EE_REDIS_URL`` and the
other ``EE_*`` connection settings (credentials, TLS), then the stack file of ``ee up``
(``shared.config.load_settings``, the very function every ``ee`` command uses); without
any of them it does not fall back to this machine's standard ports unless
``EE_DEFAULT_URLS=1`` asks for them (StackNotFound otherwise, on connecting).

Submitting, waiting, signalling and cancelling go through NATS only (the ``client``
user of docs/security.md); ``job``, ``jobs`` and ``events`` read Redis, which is opened
on first use. Reads return the same dicts as ``ee status --json``, ``ee jobs --json``
and ``ee events --json``: that shape is a public interface that only gains fields, and
one shape for the command line and the client keeps them from drifting apart.

Every failure is one of the engine's own errors (``shared.errors``): the job's
``JobNotFound``, ``JobFinished`` for a signal or cancel after the job ended,
``JobWaitTimeout`` when ``result`` gives up, ``EngineUnavailable`` when NATS or Redis
cannot be reached, ``InvalidWorkflow`` for a workflow that would be refused,
``InvalidName`` for an id or signal name that breaks its rule; never a raw NATS or
Redis exception.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import anyio
import anyio.from_thread
import anyio.to_thread
import nats.errors
import redis

from ee.client import EngineClient
from ee.clock_options import submit_times
from ee.deployed import submission_source
from ee.inspect import Inspector, accepted_job, created_within, open_inspector, with_accepted
from shared.bounds import bounded_text
from shared.config import Settings, load_settings, redact_url
from shared.errors import EngineUnavailable, InvalidWorkflow, JobNotFound, JobWaitTimeout
from shared.messages import CancelRequest, JobView
from shared.naming import check_name
from shared.workflow import json_type

__all__ = ["Client", "JobHandle", "JobResult", "SyncClient", "SyncJobHandle", "read_workflow"]

T = TypeVar("T")

WorkflowSource = dict[str, Any] | str | os.PathLike[str]

# How long a signal to a job submitted but not started yet waits for an executor to start it.
START_PATIENCE_S = 30.0


@dataclass(frozen=True)
class JobResult:
    """A finished job: ``status`` is completed, failed or cancelled; ``output`` is the end
    node's output (None unless completed), ``error`` why it failed or was cancelled."""

    job_id: str
    status: str
    output: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "completed"


def read_workflow(source: WorkflowSource) -> dict[str, Any]:
    """The workflow object of ``source``: a dict as it is, a path: its file's JSON.

    A string that names no file and is no deployed workflow's ``NAME[@VERSION]`` either is
    refused with a message that says so (``Client.submit`` looks deployed names up first)."""
    if isinstance(source, dict):
        return source
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"workflow must be a dict or a file path, not {type(source).__name__}")
    path = Path(source)
    shown = bounded_text(str(source), 200)  # one short line, whatever the string holds
    try:
        exists = path.exists()
    except (OSError, ValueError):  # a name too long, a NUL: no such file either
        exists = False
    if isinstance(source, str) and not exists and not source.endswith(".json") and os.sep not in source:
        raise InvalidWorkflow(None, None, f"{shown!r} is neither a workflow file nor a deployed workflow's "
                              "NAME or NAME@VERSION: pass a workflow dict, the path of a workflow file or a "
                              "deployed workflow's name")
    try:
        text = path.read_text()
    except (OSError, ValueError) as exc:
        raise InvalidWorkflow(None, None, f"cannot read {shown}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        workflow = json.loads(text)
    except ValueError as exc:
        raise InvalidWorkflow(None, None, f"{shown} is not valid JSON: {exc}") from None
    if not isinstance(workflow, dict):
        raise InvalidWorkflow(None, None, f"{shown} holds {json_type(workflow)}; a workflow is a JSON object")
    return workflow


@contextlib.contextmanager
def _engine_errors(settings: Settings, job_id: str | None = None) -> Iterator[None]:
    """Turn what NATS and Redis raise into the engine's errors, at this public boundary."""
    try:
        yield
    except redis.RedisError as exc:
        raise EngineUnavailable(f"Redis at {redact_url(settings.redis_url)}", str(exc) or type(exc).__name__) from exc
    except nats.errors.Error as exc:
        raise EngineUnavailable(f"NATS at {redact_url(settings.nats_url)}", str(exc) or type(exc).__name__) from exc


def _unix(value: datetime | float | None) -> float | None:
    return value.timestamp() if isinstance(value, datetime) else value


def _seconds(value: float | timedelta | None) -> float | None:
    return value.total_seconds() if isinstance(value, timedelta) else value


class JobHandle:
    """One job: wait for it, look at it, signal it, cancel it. Got from ``Client.submit``
    or, for a job submitted elsewhere, ``Client.handle(job_id)``."""

    def __init__(self, client: Client, job_id: str, *, known: bool = False) -> None:
        self._client = client
        self.job_id = job_id
        # Known to exist (submitted through this client, or found once): a job the reactor
        # does not know yet is then one no executor has started, pending.
        self._known = known

    # A timeout argument rather than the caller's fail_after: giving up raises an error that
    # names the job's status at that moment, which only this method can look up.
    async def result(self, timeout: float | timedelta | None = None) -> JobResult:  # noqa: ASYNC109
        """Wait until the job is completed, failed or cancelled, and return it; a job that
        failed is returned, not raised. ``timeout`` (seconds or a timedelta): give up with
        JobWaitTimeout, which names the job and its status then (the job goes on). JobNotFound
        for a handle on an id the engine has never seen."""
        engine, settings = self._client._engine_and_settings()
        give_up_after = _seconds(timeout)
        started = anyio.current_time()
        with _engine_errors(settings, self.job_id):
            await self._make_sure_it_exists(engine)
            try:
                view = await engine.wait(self.job_id, give_up_after)
            except TimeoutError:
                waited = anyio.current_time() - started
                status = (await engine.view(self.job_id)).status
                raise JobWaitTimeout(self.job_id, status, round(waited, 3)) from None
        return JobResult(job_id=self.job_id, status=view.status, output=view.output, error=view.error)

    async def status(self) -> str:
        """The job's status now: pending (accepted, not started yet), running, parked,
        completed, failed or cancelled. JobNotFound for a handle on an id the engine has never seen."""
        engine, settings = self._client._engine_and_settings()
        with _engine_errors(settings, self.job_id):
            await self._make_sure_it_exists(engine)
            return (await engine.view(self.job_id)).status

    async def _make_sure_it_exists(self, engine: EngineClient) -> None:
        """For a handle on an id given by the caller: JobNotFound unless the reactor records
        the job or it waits in the jobs stream (else it would look pending forever)."""
        if self._known:
            return
        try:
            await engine.reactor.call("inspect", CancelRequest(job_id=self.job_id), JobView, patience=10)
        except JobNotFound:
            if not await self._submitted(engine):
                raise
        self._known = True

    async def signal(self, name: str, data: Any = None) -> bool:
        """Send signal ``name`` with ``data`` (any JSON value): True if a wait took it now,
        False if it was kept in the job's inbox for a later wait. A job submitted but not started
        yet is waited for (up to ``START_PATIENCE_S``) first. JobFinished if the job is over."""
        check_name("signal", name)
        engine, settings = self._client._engine_and_settings()
        with _engine_errors(settings, self.job_id):
            try:
                return (await engine.signal(self.job_id, name, data)).delivered
            except JobNotFound:
                if not await self._submitted(engine):
                    raise
                # Submitted, not started: the reactor has no record to keep a signal in yet.
                await self._until_started(engine, f"signal {name!r} was not sent")
                return (await engine.signal(self.job_id, name, data)).delivered

    async def cancel(self, reason: str = "cancelled by client") -> None:
        """Cancel the job: its waits are dropped, its bots released, running activities told to
        stop; a job submitted that no executor has started yet is recorded cancelled and never
        runs. JobFinished if it had completed, failed or been cancelled already."""
        engine, settings = self._client._engine_and_settings()
        with _engine_errors(settings, self.job_id):
            try:
                await engine.cancel(self.job_id, reason)
            except JobNotFound:
                if not await self._submitted(engine):
                    raise
                # Not started yet (or just now): through jobs.cancel, the reactor cancels it
                # either way, and a job not started is recorded cancelled and never runs.
                await engine.cancel_before_start(self.job_id, reason)

    async def _submitted(self, engine: EngineClient) -> bool:
        """After a 404: whether the job waits in the jobs stream (submitted, no executor has
        started it yet) or was started in the meantime."""
        try:
            if await engine.accepted(self.job_id) is not None:
                return True
        except TimeoutError:
            pass
        return (await engine.view(self.job_id)).status != "pending"

    async def _until_started(self, engine: EngineClient, what: str) -> None:
        """Wait (bounded) until an executor has started the job, so the reactor knows it."""
        with anyio.move_on_after(START_PATIENCE_S):
            delay = 0.02
            while (await engine.view(self.job_id)).status == "pending":
                await anyio.sleep(delay)
                delay = min(delay * 1.5, 0.25)
            return
        raise EngineUnavailable("executors", f"job {self.job_id!r} was accepted but no executor started it "
                                f"within {START_PATIENCE_S:g} s; {what}")

    def __repr__(self) -> str:
        return f"JobHandle({self.job_id!r})"


class Client:
    """The engine, from Python: ``async with Client() as client: ...``.

    ``nats_url``, ``redis_url``, ``redis_prefix``: as ``ee --nats-url`` and so on; each
    one not given comes from the environment, then the stack file. ``settings``: fully
    loaded settings instead (then the other arguments are ignored)."""

    def __init__(self, nats_url: str | None = None, redis_url: str | None = None, *,
                 redis_prefix: str | None = None, settings: Settings | None = None) -> None:
        self._flags = (nats_url, redis_url, redis_prefix)
        self._given = settings
        self._settings: Settings | None = None
        self._engine: EngineClient | None = None
        self._inspector: Inspector | None = None

    @property
    def settings(self) -> Settings:
        """The settings in use (loaded on entering the ``async with`` block)."""
        if self._settings is None:
            raise RuntimeError("use the client inside `async with Client() as client:`")
        return self._settings

    async def __aenter__(self) -> Self:
        settings = self._settings = self._given or load_settings(*self._flags, default_urls=False)
        engine = EngineClient(settings)
        with _engine_errors(settings):
            await engine.__aenter__()
        self._engine = engine
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        engine, self._engine = self._engine, None
        inspector, self._inspector = self._inspector, None
        with anyio.CancelScope(shield=True):
            if engine is not None:
                with contextlib.suppress(Exception):
                    await engine.__aexit__(exc_type, exc, tb)
            if inspector is not None:
                with contextlib.suppress(Exception):
                    await anyio.to_thread.run_sync(inspector.r.close)

    def _engine_and_settings(self) -> tuple[EngineClient, Settings]:
        if self._engine is None:
            raise RuntimeError("use the client inside `async with Client() as client:`")
        return self._engine, self.settings

    # ---- jobs -----------------------------------------------------------------

    async def submit(self, workflow: WorkflowSource, input: dict[str, Any] | None = None,
                     job_id: str | None = None, **options: Any) -> JobHandle:
        """Submit a job of ``workflow`` (a dict, the path of a JSON file, or a deployed workflow's
        ``NAME[@VERSION]``: its latest version, or that one; WorkflowNotDeployed if none) with ``input``;
        returns once the engine has stored it durably. ``job_id``: choose the id (the same
        id again starts no second job); by default a new one. ``options``: ``not_before`` (an
        aware datetime, Unix seconds or ISO-8601 text: the job is accepted now and starts then),
        ``delay`` (seconds from now, instead), ``deadline`` (a moment: flagged overdue if not
        finished by then); any other is a TypeError."""
        not_before, deadline = submit_times(options)
        if input is not None and not isinstance(input, dict):
            raise TypeError(f"input must be a dict (a JSON object), not {type(input).__name__}")
        if job_id is not None:
            check_name("job", job_id)
        deployed = submission_source(workflow) if isinstance(workflow, str) else None
        body = read_workflow(workflow) if not isinstance(deployed, tuple) else None
        engine, settings = self._engine_and_settings()
        with _engine_errors(settings):
            if body is None:
                assert isinstance(deployed, tuple)
                body = json.loads((await engine.deployed(*deployed)).workflow)
            submitted = await engine.submit(body, input or {}, job_id, not_before=not_before, deadline=deadline)
        return JobHandle(self, submitted, known=True)

    def handle(self, job_id: str) -> JobHandle:
        """A handle on a job submitted before or elsewhere (nothing is sent; its first
        ``result()`` or ``status()`` raises JobNotFound if the engine has never seen the id)."""
        return JobHandle(self, check_name("job", job_id))

    async def job(self, job_id: str) -> dict[str, Any]:
        """The job as ``ee status ID --json`` shows it, with its history; JobNotFound if
        the engine neither stores it nor holds it in the jobs stream."""
        check_name("job", job_id)
        found = await self._read(lambda inspector: inspector.job(job_id))
        if found is not None:
            return found
        engine, settings = self._engine_and_settings()
        with _engine_errors(settings, job_id):
            accepted = await engine.accepted(job_id)
        if accepted is None:
            # Started, its message out of the stream, between the two looks: Redis has it now.
            started = await self._read(lambda inspector: inspector.job(job_id))
            if started is None:
                raise JobNotFound(job_id)
            return started
        return accepted_job(job_id, accepted)

    async def jobs(self, *, status: str | None = None, limit: int = 50, workflow: str | None = None,
                   since: datetime | float | None = None, until: datetime | float | None = None,
                   after: str | None = None) -> list[dict[str, Any]]:
        """The newest jobs, as ``ee jobs --json`` lists them; ``status``: only those (or
        ``"stranded"``: every stranded job, newest stranded first). Jobs accepted that no
        executor has taken yet (in the jobs stream only) are listed as pending. ``workflow``,
        ``since``, ``until`` (an aware datetime or Unix seconds) and ``after`` (a job id: the
        next page) as ``ee jobs --workflow --since --until --after``."""
        if workflow is not None:
            check_name("workflow", workflow)
        low, high = _unix(since), _unix(until)
        rows = await self._read(lambda inspector: inspector.jobs(limit, status, workflow=workflow, since=low,
                                                                 until=high, after=after))
        if status not in (None, "pending") or workflow is not None or after is not None:
            return rows
        engine, settings = self._engine_and_settings()

        async def known(job_ids: list[str]) -> set[str]:
            return await self._read(lambda inspector: inspector.known(job_ids))

        with _engine_errors(settings):
            accepted, _ = await engine.accepted_jobs(limit, known)
        return [row for row in with_accepted(rows, accepted, limit) if created_within(row, low, high)]

    async def events(self, *, job: str | None = None, kind: str | None = None, activity: str | None = None,
                     pool: str | None = None, bot: str | None = None,
                     older_than: float | timedelta | None = None, stranded: bool = False,
                     limit: int | None = None) -> list[dict[str, Any]]:
        """Open events (parked waits, and fired ones not consumed yet), oldest first, as
        ``ee events --json`` lists them, with its filters (``older_than``: seconds or a
        timedelta)."""
        age = _seconds(older_than)
        return await self._read(lambda inspector: inspector.events(job, kind, activity, pool, bot, age,
                                                                   limit=limit, stranded=stranded))

    async def _read(self, read: Callable[[Inspector], T]) -> T:
        """Run a read of ``ee.inspect`` (blocking redis-py) in a worker thread."""
        settings = self.settings
        with _engine_errors(settings):
            if self._inspector is None:
                self._inspector = await anyio.to_thread.run_sync(open_inspector, settings)
            inspector = self._inspector
            return await anyio.to_thread.run_sync(read, inspector)


class SyncJobHandle:
    """``JobHandle`` for blocking code: the same methods, without ``await``."""

    def __init__(self, portal: anyio.from_thread.BlockingPortal, handle: JobHandle) -> None:
        self._portal = portal
        self._handle = handle
        self.job_id = handle.job_id

    def result(self, timeout: float | timedelta | None = None) -> JobResult:
        return self._portal.call(self._handle.result, timeout)

    def status(self) -> str:
        return self._portal.call(self._handle.status)

    def signal(self, name: str, data: Any = None) -> bool:
        delivered: bool = self._portal.call(self._handle.signal, name, data)
        return delivered

    def cancel(self, reason: str = "cancelled by client") -> None:
        self._portal.call(self._handle.cancel, reason)

    def __repr__(self) -> str:
        return f"SyncJobHandle({self.job_id!r})"


class SyncClient:
    """``Client`` for blocking code: ``with SyncClient() as client: ...``, the same
    arguments and methods, without ``await``. The async client runs on an event loop in
    a private thread, started on entering the block and stopped on leaving it."""

    def __init__(self, nats_url: str | None = None, redis_url: str | None = None, *,
                 redis_prefix: str | None = None, settings: Settings | None = None) -> None:
        self._client = Client(nats_url, redis_url, redis_prefix=redis_prefix, settings=settings)
        self._stack: contextlib.ExitStack | None = None
        self._portal: anyio.from_thread.BlockingPortal | None = None

    def __enter__(self) -> Self:
        with contextlib.ExitStack() as stack:
            self._portal = stack.enter_context(anyio.from_thread.start_blocking_portal())
            stack.enter_context(self._portal.wrap_async_context_manager(self._client))
            self._stack = stack.pop_all()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Disconnect and stop the private thread; idempotent."""
        stack, self._stack = self._stack, None
        if stack is not None:
            stack.close()
        self._portal = None

    @property
    def settings(self) -> Settings:
        return self._client.settings

    def _call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        if self._portal is None:
            raise RuntimeError("use the client inside `with SyncClient() as client:`")
        return self._portal.call(fn, *args)

    def submit(self, workflow: WorkflowSource, input: dict[str, Any] | None = None,
               job_id: str | None = None, **options: Any) -> SyncJobHandle:
        async def go() -> JobHandle:
            return await self._client.submit(workflow, input, job_id, **options)

        return self._wrap(self._call(go))

    def handle(self, job_id: str) -> SyncJobHandle:
        return self._wrap(self._client.handle(job_id))

    def _wrap(self, handle: JobHandle) -> SyncJobHandle:
        if self._portal is None:
            raise RuntimeError("use the client inside `with SyncClient() as client:`")
        return SyncJobHandle(self._portal, handle)

    def job(self, job_id: str) -> dict[str, Any]:
        return self._call(self._client.job, job_id)

    def jobs(self, *, status: str | None = None, limit: int = 50, workflow: str | None = None,
             since: datetime | float | None = None, until: datetime | float | None = None,
             after: str | None = None) -> list[dict[str, Any]]:
        async def go() -> list[dict[str, Any]]:
            return await self._client.jobs(status=status, limit=limit, workflow=workflow, since=since, until=until,
                                           after=after)

        return self._call(go)

    def events(self, *, job: str | None = None, kind: str | None = None, activity: str | None = None,
               pool: str | None = None, bot: str | None = None, older_than: float | timedelta | None = None,
               stranded: bool = False, limit: int | None = None) -> list[dict[str, Any]]:
        async def go() -> list[dict[str, Any]]:
            return await self._client.events(job=job, kind=kind, activity=activity, pool=pool, bot=bot,
                                             older_than=older_than, stranded=stranded, limit=limit)

        return self._call(go)

