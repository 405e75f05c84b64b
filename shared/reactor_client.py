"""The executor's side of the reactor's request/reply endpoints."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any, TypeVar

import anyio
import msgspec
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from shared import names
from shared.errors import EngineError, EngineUnavailable
from shared.messages import encode

__all__ = ["ReactorClient", "ReactorError"]

T = TypeVar("T")
NO_RESPONDERS = "503"


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

    Replies come back on one subscription of this client's own inbox, matched by
    a counter: per request that is one dict entry and one timer, instead of the
    library's random token, done-callback and ``wait_for`` (measured on the
    executor's park path).
    """

    def __init__(self, nc: NATS, timeout: float = 5.0) -> None:
        self.nc = nc
        self.timeout = timeout
        self._decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {}
        self._prefix = nc.new_inbox() + "."
        self._pending: dict[str, asyncio.Future[Msg]] = {}
        self._seq = itertools.count()
        self._sub: Subscription | None = None

    async def _on_reply(self, msg: Msg) -> None:
        future = self._pending.pop(msg.subject[len(self._prefix):], None)
        if future is not None and not future.done():
            future.set_result(msg)

    async def _request(self, subject: str, data: bytes) -> Msg:
        if self._sub is None:
            self._sub = await self.nc.subscribe(self._prefix + "*", cb=self._on_reply)
        token = str(next(self._seq))
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Msg] = loop.create_future()
        self._pending[token] = future
        timer = loop.call_later(self.timeout, _expire, future)
        try:
            await self.nc.publish(subject, data, reply=self._prefix + token)
            msg = await future
        finally:
            timer.cancel()
            self._pending.pop(token, None)
        if msg.headers and msg.headers.get("Status") == NO_RESPONDERS:
            raise NoRespondersError
        return msg

    async def call(self, op: str, request: msgspec.Struct, reply_type: type[T], *,
                   patience: float = 30.0) -> T:
        """Send one request; retry on no responders or time-outs for up to ``patience`` seconds."""
        data = encode(request)
        subject = names.reactor_subject(op)
        delay = 0.05
        give_up = anyio.current_time() + patience
        while True:
            try:
                msg = await self._request(subject, data)
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


def _expire(future: asyncio.Future[Msg]) -> None:
    if not future.done():
        future.set_exception(NatsTimeout())


def error_from_reply(code: str, description: str) -> ReactorError:
    return ReactorError(code, description)
