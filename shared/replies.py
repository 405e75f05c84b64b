"""Requests over one reply subscription per client, matched by a counter.

nats-py makes a random token, a done-callback and a ``wait_for`` per request
(``nc.request``, ``js.publish``, ``js.publish_async``). On the engine's hot paths
(parks, results, dispatches) one inbox with a counter and one timer per request
costs noticeably less CPU.
"""

from __future__ import annotations

import asyncio
import itertools

import msgspec
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js.errors import APIError

from shared import denials
from shared.bounds import check_publish
from shared.errors import NotPermitted

__all__ = ["WRONG_LAST_SEQUENCE", "JetStreamPublishError", "ReplyInbox"]

NO_RESPONDERS = "503"
# JetStream's error number for a publish whose expected last sequence does not hold (with
# ``Nats-Expected-Last-Subject-Sequence: 0``: the subject holds a message already).
WRONG_LAST_SEQUENCE = 10071


class JetStreamPublishError(APIError):
    """JetStream refused a publish: nats-py's APIError with the reply's ``code``, ``err_code``
    (JetStream's error number, e.g. :data:`WRONG_LAST_SEQUENCE`) and ``description``; both
    codes None when no stream took the subject."""

    def __init__(self, subject: str, *, code: int | None = None, err_code: int | None = None,
                 description: str | None = None) -> None:
        super().__init__(code=code, description=description, err_code=err_code)
        self.subject = subject


class _ApiError(msgspec.Struct):
    code: int | None = None
    err_code: int | None = None
    description: str | None = None


class _PubReply(msgspec.Struct):
    error: _ApiError | None = None


_pub_reply = msgspec.json.Decoder(_PubReply)


class ReplyInbox:
    def __init__(self, nc: NATS, timeout: float = 5.0) -> None:
        self.nc = nc
        self.timeout = timeout
        self._prefix = nc.new_inbox() + "."
        self._pending: dict[str, asyncio.Future[Msg]] = {}
        self._subjects: dict[str, str] = {}  # token: the subject its request went to
        self._seq = itertools.count()
        self._sub: Subscription | None = None
        denials.listen(nc, self._on_denied)

    def _on_denied(self, action: str, subject: str) -> None:
        """Fail at once the requests the server dropped (or whose replies it will not deliver)."""
        # nats-py hands the server's message over lower-cased, subject included.
        for token, future in list(self._pending.items()):
            sent_to = self._subjects.get(token, "")
            if future.done():
                continue
            if action == "publish" and sent_to.lower() == subject:
                future.set_exception(NotPermitted(action, sent_to))
            elif action == "subscribe to" and subject.startswith(self._prefix.lower()):
                future.set_exception(NotPermitted(action, self._prefix + "*"))

    async def _on_reply(self, msg: Msg) -> None:
        future = self._pending.pop(msg.subject[len(self._prefix):], None)
        if future is not None and not future.done():
            future.set_result(msg)

    async def request(self, subject: str, data: bytes, headers: dict[str, str] | None = None,
                      wait_s: float | None = None) -> Msg:
        """The reply; raises NoRespondersError or nats' TimeoutError, NotPermitted when the
        server's permissions dropped it, and OverLimit before
        sending what the server would answer by closing the connection (shared.bounds)."""
        check_publish(f"message to {subject[:80]}", subject, data, headers, self.nc.max_payload)
        if self._sub is None:
            self._sub = await self.nc.subscribe(self._prefix + "*", cb=self._on_reply)
        token = str(next(self._seq))
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Msg] = loop.create_future()
        self._pending[token] = future
        self._subjects[token] = subject
        refused = denials.refused_subscription(self.nc)
        if refused is not None and refused.startswith(self._prefix.lower()):  # no reply can reach us
            future.set_exception(NotPermitted("subscribe to", self._prefix + "*"))
        timer = loop.call_later(self.timeout if wait_s is None else wait_s, _expire, future)
        try:
            await self.nc.publish(subject, data, reply=self._prefix + token, headers=headers)
            msg = await future
        finally:
            timer.cancel()
            self._pending.pop(token, None)
            self._subjects.pop(token, None)
        if msg.headers and msg.headers.get("Status") == NO_RESPONDERS:
            raise NoRespondersError
        return msg

    async def js_publish(self, subject: str, data: bytes, headers: dict[str, str] | None = None,
                         wait_s: float | None = None) -> None:
        """Publish to a stream and wait for JetStream's acknowledgement (the message is stored)."""
        try:
            reply = await self.request(subject, data, headers, wait_s)
        except NoRespondersError as exc:
            raise JetStreamPublishError(subject, description=f"no stream takes {subject}") from exc
        if b'"error"' not in reply.data[:40]:  # a plain ack, not decoded: the hot path
            return
        try:
            error = _pub_reply.decode(reply.data).error
        except msgspec.DecodeError:
            error = _ApiError(description=reply.data[:200].decode(errors="replace"))
        if error is not None:
            raise JetStreamPublishError(subject, code=error.code, err_code=error.err_code,
                                        description=error.description)


def _expire(future: asyncio.Future[Msg]) -> None:
    if not future.done():
        future.set_exception(NatsTimeout())
