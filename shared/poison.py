"""Poison messages: when a consumer stops retrying a message and dead-letters it.

A message that fails for a reason of its own (it does not decode, or applying it raises
the same error every time) would otherwise come back forever: JetStream redelivers what
is not acked, and a consumer with unbounded deliveries never stops. A message whose
failure is the world's (Redis or NATS away, a server restarting) must be kept and
retried, however long that takes: it is not the message's fault.

So a consumer retries a failed message only while :func:`transient` says the failure may
mend by waiting, or while it has been delivered fewer than ``POISON_DELIVERIES`` times;
after that it is dead-lettered with its reason and terminated (JetStream never delivers a
terminated message again, across restarts).
"""

from __future__ import annotations

import nats.errors
from nats.aio.msg import Msg
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.errors import EngineUnavailable

__all__ = ["POISON_DELIVERIES", "given_up", "transient"]

POISON_DELIVERIES = 5


def transient(exc: BaseException) -> bool:
    """Whether ``exc`` is a failure of a server or the network, which waiting may mend."""
    if isinstance(exc, ResponseError):
        # A script's own error is about its arguments (the message); OOM, READONLY, BUSY and
        # the like are Redis's state.
        text = str(exc).lower()
        return "script" not in text
    return isinstance(exc, (RedisConnectionError, RedisTimeoutError, nats.errors.Error, EngineUnavailable,
                            OSError, TimeoutError))


def given_up(msg: Msg, exc: BaseException) -> bool:
    """Whether to stop retrying ``msg`` after ``exc``: its own failure, delivered often enough."""
    if transient(exc):
        return False
    try:
        delivered = msg.metadata.num_delivered
    except Exception:  # not a JetStream message: nothing would redeliver it anyway
        return True
    return delivered >= POISON_DELIVERIES
