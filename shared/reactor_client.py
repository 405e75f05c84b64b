"""The executor's side of the reactor's request/reply endpoints."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from nats.aio.client import Client as NATS
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from shared import names
from shared.bounds import MAX_DEPTH, bounded_text, check_nesting
from shared.error_replies import error_from_reply
from shared.errors import EngineUnavailable, InvalidMessage, NestedTooDeep, PayloadTooLarge
from shared.messages import encode
from shared.replies import ReplyInbox
from shared.retry import retrying

__all__ = ["ReactorClient"]

T = TypeVar("T")

# The requests that carry a job's state (its checkpoint, input, output): too large, the job fails.
_JOB_STATE_OPS = frozenset({"start", "park", "finish"})


def _reactor_away(exc: BaseException) -> bool:
    """No reactor subscribed (restarting), or none answered in time (busy, or gone meanwhile)."""
    return isinstance(exc, NoRespondersError | NatsTimeout)


class ReactorClient:
    """Typed requests to ``ee.reactor.<op>``, retried while the reactor is away.

    Replies come back on this client's own inbox (``shared.replies``). An error reply is
    raised as the error the reactor raised (``shared.error_replies``): StaleFence,
    JobNotFound, ... with their attributes; ReactorError for an unexpected failure.
    """

    def __init__(self, nc: NATS, timeout: float = 5.0, max_payload: int | None = None) -> None:
        self.nc = nc
        self.max_payload = max_payload
        self._inbox = ReplyInbox(nc, timeout)
        self._decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {}

    async def call(self, op: str, request: msgspec.Struct, reply_type: type[T], *,
                   patience: float = 30.0) -> T:
        """Send one request; retry on no responders or time-outs for up to ``patience`` seconds.

        A request the reactor would refuse for its size or nesting (or that would close the
        connection) raises OverLimit at once, never sent: ``PayloadTooLarge("job state", ...)``
        for the executor's start, park and finish, which fail the job with it."""
        subject = names.reactor_subject(op)
        what = "job state" if op in _JOB_STATE_OPS else f"{op} request"
        try:
            data = encode(request)
        except Exception as exc:  # RecursionError on a value nested too deep to encode, say
            raise NestedTooDeep(what, MAX_DEPTH) from exc
        limit = min(self.nc.max_payload, self.max_payload or self.nc.max_payload)
        if len(data) > limit:
            raise PayloadTooLarge(what, len(data), limit)
        check_nesting(what, data)
        try:
            msg = await retrying(lambda: self._inbox.request(subject, data), when=_reactor_away,
                                 patience=patience, first_s=0.05, most_s=1.0)
        except (NoRespondersError, NatsTimeout):
            raise EngineUnavailable("reactor", f"no answer on {subject} within {patience:.0f} s") from None
        headers = msg.headers or {}
        if names.ERROR_CODE_HEADER in headers:
            raise error_from_reply(headers, msg.data)
        decoder = self._decoders.get(reply_type)
        if decoder is None:
            decoder = self._decoders[reply_type] = msgspec.json.Decoder(reply_type)
        try:
            return decoder.decode(msg.data)  # type: ignore[no-any-return]
        except Exception as exc:
            raise InvalidMessage(f"reply of {subject}", bounded_text(str(exc))) from exc

