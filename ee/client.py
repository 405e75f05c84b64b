"""What the command line sends over NATS: submissions, signals, cancellations, event actions."""

from __future__ import annotations

from typing import Any

import anyio
import nats.js.errors
from nats.aio.client import Client as NATS

from shared import names
from shared.config import Settings, redact_url
from shared.connect import connect_nats
from shared.errors import EngineUnavailable, InvalidMessage
from shared.messages import (
    CancelReply,
    CancelRequest,
    EventOp,
    EventOpReply,
    JobRequest,
    JobView,
    SignalReply,
    SignalRequest,
    encode,
)
from shared.reactor_client import ReactorClient, ReactorError
from shared.workflow import decode_workflow

__all__ = ["EngineClient"]

FINAL = ("completed", "failed", "cancelled")


class EngineClient:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._nc: NATS | None = None

    async def __aenter__(self) -> EngineClient:
        self._nc = await connect_nats(self.settings, "ee-cli", patient=False)
        self.reactor = ReactorClient(self._nc)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._nc is not None:
            await self._nc.close()

    @property
    def nc(self) -> NATS:
        assert self._nc is not None
        return self._nc

    async def submit(self, workflow: dict[str, Any], job_input: dict[str, Any], job_id: str | None) -> str:
        """Validate, then publish; the publish ack means the job is stored durably."""
        decode_workflow(workflow)
        job_id = job_id or names.new_job_id()
        data = encode(JobRequest(workflow=workflow, input=job_input, job_id=job_id))
        if len(data) > self.settings.max_payload_bytes:
            raise InvalidMessage(names.JOBS_EXECUTE, f"job of {len(data)} bytes exceeds the limit of "
                                 f"{self.settings.max_payload_bytes}")
        try:
            await self.nc.jetstream().publish(names.JOBS_EXECUTE, data, timeout=5,
                                              headers={"Nats-Msg-Id": job_id})
        except (nats.js.errors.NoStreamResponseError, nats.errors.TimeoutError) as exc:
            raise EngineUnavailable(f"jobs stream at {redact_url(self.settings.nats_url)}",
                                    "no stream answered (is the engine running?)") from exc
        return job_id

    async def view(self, job_id: str) -> JobView:
        try:
            return await self.reactor.call("inspect", CancelRequest(job_id=job_id), JobView, patience=10)
        except ReactorError as exc:
            if exc.not_found:
                return JobView(job_id=job_id, status="pending")
            raise

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

    async def event_op(self, op: EventOp) -> EventOpReply:
        return await self.reactor.call("event", op, EventOpReply, patience=10)
