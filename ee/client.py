"""What the command line sends over NATS: submissions, signals, cancellations, event actions."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import msgspec
import nats.js.errors
from nats.aio.client import Client as NATS

from shared import denials, names
from shared.bounds import MAX_DATA_DEPTH, bounded_text, nested_deeper_than
from shared.config import Settings, redact_url
from shared.connect import connect_nats
from shared.errors import EngineUnavailable, InvalidMessage, JobNotFound, NotPermitted
from shared.flow import PRIORITY_DEFAULT, check_priority
from shared.messages import (
    CancelReply,
    CancelRequest,
    DeployedReply,
    DeployedRequest,
    DeploymentsReply,
    DeploymentsRequest,
    DeployReply,
    DeployRequest,
    EventOp,
    EventOpReply,
    JobRequest,
    JobView,
    LimitDeleteReply,
    LimitInfo,
    LimitListReply,
    LimitRequest,
    LimitSetRequest,
    PurgeReply,
    PurgeRequest,
    RetryReply,
    RetryRequest,
    SignalReply,
    SignalRequest,
    TaskOp,
    TaskOpReply,
    encode,
)
from shared.reactor_client import ReactorClient
from shared.workflow import decode_workflow

__all__ = ["EngineClient"]

FINAL = ("completed", "failed", "cancelled")

# The fields of a job message that name it, read without decoding the rest strictly.
class _JobId(msgspec.Struct):
    job_id: str | None = None


_job_id = msgspec.json.Decoder(_JobId)


def _named(msg: Any) -> str | None:
    """The job id a job message names: its ``Nats-Msg-Id`` (what ``ee submit`` sets to the job
    id) or else its body's ``job_id``; None for a message without either (the executor makes
    up the id of such a job when it takes it)."""
    named = (msg.headers or {}).get("Nats-Msg-Id")
    if named is None and msg.data:
        try:
            named = _job_id.decode(msg.data).job_id
        except (msgspec.DecodeError, msgspec.ValidationError):
            named = None
    return named if isinstance(named, str) else None


class EngineClient:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._nc: NATS | None = None

    async def __aenter__(self) -> EngineClient:
        self._nc = await connect_nats(self.settings.require("nats"), "ee-cli", patient=False)
        self.reactor = ReactorClient(self._nc)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._nc is not None:
            await self._nc.close()

    @property
    def nc(self) -> NATS:
        assert self._nc is not None
        return self._nc

    def _refused(self, subject: str, exc: Exception) -> None:
        """A publish that got no answer because this NATS user may not publish there (the
        server says so asynchronously): NotPermitted, not "is the engine running?"."""
        if denials.seen(self.nc, "publish", subject):
            raise NotPermitted("publish", subject) from exc
        inbox = denials.refused_subscription(self.nc)
        if inbox is not None:
            raise NotPermitted("subscribe to", inbox) from exc

    async def submit(self, workflow: dict[str, Any], job_input: dict[str, Any], job_id: str | None, *,
                     not_before: float | None = None, deadline: float | None = None,
                     priority: int = PRIORITY_DEFAULT) -> str:
        """Validate, then publish; the publish ack means the job is stored durably. ``not_before``,
        ``deadline``: Unix seconds (flow control, reactor.clock). ``priority``: 1 (most urgent) .. 9."""
        decode_workflow(workflow)
        check_priority(names.JOBS_EXECUTE, priority)
        job_id = job_id or names.new_job_id()
        request = JobRequest(workflow=workflow, input=job_input, job_id=job_id, not_before=not_before,
                             deadline=deadline)
        request.priority = priority
        data = encode(request)
        if len(data) > self.settings.max_payload_bytes:
            raise InvalidMessage(names.JOBS_EXECUTE, f"job of {len(data)} bytes exceeds the limit of "
                                 f"{self.settings.max_payload_bytes}")
        if nested_deeper_than(data, MAX_DATA_DEPTH):
            raise InvalidMessage(names.JOBS_EXECUTE, f"job nested more than {MAX_DATA_DEPTH} levels deep "
                                 "(the limit)")
        try:
            await self.nc.jetstream().publish(names.JOBS_EXECUTE, data, timeout=5,
                                              headers={"Nats-Msg-Id": job_id})
        except (nats.js.errors.NoStreamResponseError, nats.errors.TimeoutError) as exc:
            self._refused(names.JOBS_EXECUTE, exc)
            raise EngineUnavailable(f"jobs stream at {redact_url(self.settings.nats_url)}",
                                    "no stream answered (is the engine running?)") from exc
        except nats.js.errors.APIError as exc:
            # Full (maximum bytes or messages: the stream refuses new jobs rather than drop
            # accepted ones), message too large for it, or any other refusal: not accepted.
            raise EngineUnavailable(f"jobs stream at {redact_url(self.settings.nats_url)}",
                                    f"the job was not accepted: {bounded_text(exc.description or str(exc))}") from exc
        except nats.errors.Error as exc:  # connection closed, payload over the server's limit, ...
            raise EngineUnavailable(f"NATS at {redact_url(self.settings.nats_url)}",
                                    f"the job was not sent: {bounded_text(str(exc) or type(exc).__name__)}") from exc
        return job_id

    async def accepted(self, job_id: str, give_up_after: float = 10.0) -> dict[str, Any] | None:
        """The job's message in the jobs stream, if it is there: accepted, not started by any
        executor yet (a job message leaves the stream once its job is started and parked).

        Read message by message from the oldest (a work-queue stream can have no second
        consumer on the subject), matched on ``Nats-Msg-Id`` or the body's ``job_id``: quick
        while few jobs wait for an executor. Returns ``{"seq", "accepted", "data"}`` (``data``:
        the message's body) or None; raises
        TimeoutError after ``give_up_after`` seconds of reading."""
        js = self.nc.jetstream()
        try:
            info = await js.stream_info(names.STREAM_JOBS)
        except nats.js.errors.NotFoundError:
            return None
        seq = int(info.state.first_seq or 1)
        last = int(info.state.last_seq or 0)
        deadline = time.monotonic() + give_up_after
        while seq <= last:
            if time.monotonic() > deadline:
                raise TimeoutError(f"looking for job {job_id!r} in the jobs stream")
            try:
                msg = await js.get_msg(names.STREAM_JOBS, seq=seq, subject=names.JOBS_EXECUTE, next=True)
            except nats.js.errors.NotFoundError:
                return None
            if msg.seq is None:
                return None
            named = _named(msg)
            if named == job_id:
                return {"seq": msg.seq, "accepted": None if msg.time is None else msg.time.isoformat(),
                        "data": msg.data or b""}
            seq = msg.seq + 1
        return None

    async def accepted_jobs(self, limit: int, known: Callable[[list[str]], Awaitable[set[str]]],
                            give_up_after: float = 5.0) -> tuple[list[dict[str, Any]], bool]:
        """Up to ``limit`` jobs whose messages wait in the jobs stream and that ``known`` (Redis)
        does not name, newest first: accepted, not taken by any executor yet.

        The stream is read in windows of sequence numbers from the newest back, each twice
        the one before, each window message by message from its start (``next`` skips the gaps
        acked jobs left), until ``limit`` are found or the oldest message is read. Returns the
        rows (``{"job_id", "seq", "accepted"}``) and whether the search was complete (False:
        stopped after ``give_up_after`` seconds of reading, older jobs not looked at)."""
        js = self.nc.jetstream()
        try:
            info = await js.stream_info(names.STREAM_JOBS)
        except nats.js.errors.NotFoundError:
            return [], True
        first, top = int(info.state.first_seq or 1), int(info.state.last_seq or 0)
        deadline = time.monotonic() + give_up_after
        window = max(2 * limit, 64)
        found: list[dict[str, Any]] = []
        seen: set[str] = set()
        complete = True
        while top >= first and len(found) < limit and complete:
            low = max(first, top - window + 1)
            batch: list[dict[str, Any]] = []  # oldest first
            seq = low
            while seq <= top:
                if time.monotonic() > deadline:
                    complete = False
                    break
                try:
                    msg = await js.get_msg(names.STREAM_JOBS, seq=seq, subject=names.JOBS_EXECUTE, next=True)
                except nats.js.errors.NotFoundError:
                    break
                if msg.seq is None or msg.seq > top:
                    break
                named = _named(msg)
                if named is not None:
                    batch.append({"job_id": named, "seq": msg.seq,
                                  "accepted": None if msg.time is None else msg.time.isoformat()})
                seq = msg.seq + 1
            stored = await known(sorted({row["job_id"] for row in batch}))
            for row in reversed(batch):
                if row["job_id"] not in stored and row["job_id"] not in seen:
                    seen.add(row["job_id"])
                    found.append(row)
            top, window = low - 1, window * 2
        return found[:limit], complete

    async def view(self, job_id: str) -> JobView:
        try:
            return await self.reactor.call("inspect", CancelRequest(job_id=job_id), JobView, patience=10)
        except JobNotFound:
            return JobView(job_id=job_id, status="pending")

    async def wait(self, job_id: str, give_up_after: float | None = None) -> JobView:
        delay = 0.02
        with anyio.fail_after(give_up_after):
            while True:
                view = await self.view(job_id)
                if view.status in FINAL:
                    return view
                await anyio.sleep(delay)
                delay = min(delay * 1.5, 0.25)

    async def signal(self, job_id: str, name: str, data: Any) -> SignalReply:
        return await self.reactor.call("signal", SignalRequest(job_id=job_id, signal=name, data=data),
                                       SignalReply, patience=10)

    async def cancel(self, job_id: str, reason: str) -> CancelReply:
        return await self.reactor.call("cancel", CancelRequest(job_id=job_id, reason=reason),
                                       CancelReply, patience=10)

    async def cancel_before_start(self, job_id: str, reason: str) -> None:
        """Publish the cancel to ``jobs.cancel`` (JetStream): the reactor records a job not
        started yet as cancelled, so that it never runs; the publish ack means it is stored."""
        data = encode(CancelRequest(job_id=job_id, reason=reason))
        try:
            await self.nc.jetstream().publish(names.JOBS_CANCEL, data, timeout=5)
        except (nats.js.errors.NoStreamResponseError, nats.errors.TimeoutError) as exc:
            self._refused(names.JOBS_CANCEL, exc)
            raise EngineUnavailable(f"jobs stream at {redact_url(self.settings.nats_url)}",
                                    "no stream answered (is the engine running?)") from exc

    async def event_op(self, op: EventOp) -> EventOpReply:
        return await self.reactor.call("event", op, EventOpReply, patience=10)

    async def purge(self, request: PurgeRequest) -> PurgeReply:
        return await self.reactor.call("purge", request, PurgeReply, patience=10)

    async def deploy(self, workflow: dict[str, Any], by: str) -> DeployReply:
        return await self.reactor.call("deploy", DeployRequest(workflow=workflow, by=by), DeployReply, patience=10)

    async def deployed(self, name: str, version: int = 0) -> DeployedReply:
        """The deployed workflow ``name`` at ``version`` (0: its latest); WorkflowNotDeployed if none."""
        return await self.reactor.call("deployed", DeployedRequest(name=name, version=version), DeployedReply,
                                       patience=10)

    async def deployments(self, name: str = "") -> DeploymentsReply:
        return await self.reactor.call("deployments", DeploymentsRequest(name=name), DeploymentsReply, patience=10)

    async def limit_set(self, name: str, concurrency: int | None, rate: tuple[int, float] | None) -> LimitInfo:
        req = LimitSetRequest(name=name, concurrency=concurrency, rate=rate[0] if rate else None,
                              period_s=rate[1] if rate else None)
        return await self.reactor.call("limit_set", req, LimitInfo, patience=10)

    async def limit_delete(self, name: str) -> LimitDeleteReply:
        return await self.reactor.call("limit_delete", LimitRequest(name=name), LimitDeleteReply, patience=10)

    async def limit_show(self, name: str) -> LimitInfo:
        return await self.reactor.call("limit_show", LimitRequest(name=name), LimitInfo, patience=10)

    async def limit_list(self) -> LimitListReply:
        return await self.reactor.call("limit_list", LimitRequest(), LimitListReply, patience=10)

    async def retry(self, job_id: str, from_node: str, by: str) -> RetryReply:
        return await self.reactor.call("retry", RetryRequest(job_id=job_id, from_node=from_node, by=by), RetryReply,
                                       patience=10)

    async def task_op(self, op: TaskOp) -> TaskOpReply:
        """Claim, complete or reassign a human task (the reactor's ``task`` endpoint). The
        reactor must be up: with none answering this fails (EngineUnavailable), nothing is kept
        for later (docs/guarantees.md)."""
        return await self.reactor.call("task", op, TaskOpReply, patience=10)
