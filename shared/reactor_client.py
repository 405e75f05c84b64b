"""The executor's side of the reactor's request/reply endpoints."""

from __future__ import annotations

from typing import Any, TypeVar

import anyio
import msgspec
from nats.aio.client import Client as NATS
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from shared import names
from shared.errors import EngineError, EngineUnavailable
from shared.messages import encode
from shared.replies import ReplyInbox

__all__ = ["ReactorClient", "ReactorError"]

T = TypeVar("T")


class ReactorError(EngineError):
    """An error reply from the reactor, with its code and the reactor's own wording.

    409 means the request lost a race (stale fence, job already finished): the
    job is in other hands and the caller drops it.
    """

    def __init__(self, code: str, description: str) -> None:
        self.code = code
        self.description = description
        super().__init__(description)

    @property
    def lost_race(self) -> bool:
        return self.code == "409"

    @property
    def not_found(self) -> bool:
        return self.code == "404"


class ReactorClient:
    """Typed requests to ``ee.reactor.<op>``, retried while the reactor is away.

    Replies come back on this client's own inbox (``shared.replies``).
    """

    def __init__(self, nc: NATS, timeout: float = 5.0) -> None:
        self.nc = nc
        self._inbox = ReplyInbox(nc, timeout)
        self._decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {}

    async def call(self, op: str, request: msgspec.Struct, reply_type: type[T], *,
                   patience: float = 30.0) -> T:
        """Send one request; retry on no responders or time-outs for up to ``patience`` seconds."""
        data = encode(request)
        subject = names.reactor_subject(op)
        delay = 0.05
        give_up = anyio.current_time() + patience
        while True:
            try:
                msg = await self._inbox.request(subject, data)
                break
            except (NoRespondersError, NatsTimeout):
                if anyio.current_time() + delay > give_up:
                    raise EngineUnavailable("reactor", f"no answer on {subject} within {patience:.0f} s") from None
                await anyio.sleep(delay)
                delay = min(delay * 2, 1.0)
        headers = msg.headers or {}
        if "Nats-Service-Error-Code" in headers:
            raise error_from_reply(headers.get("Nats-Service-Error-Code", "500"),
                                   headers.get("Nats-Service-Error", "error"))
        decoder = self._decoders.get(reply_type)
        if decoder is None:
            decoder = self._decoders[reply_type] = msgspec.json.Decoder(reply_type)
        return decoder.decode(msg.data)  # type: ignore[no-any-return]


def error_from_reply(code: str, description: str) -> ReactorError:
    return ReactorError(code, description)
