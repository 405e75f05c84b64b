"""Signals sent to jobs (ee.reactor.signal, ee signal): delivered to a waiting branch or kept
in the job's inbox."""

from __future__ import annotations

import msgspec

from reactor.dispatch import Dispatcher
from reactor.store import Store
from shared.messages import SignalReply, SignalRequest
from shared.naming import check_name

__all__ = ["Signals"]

_json = msgspec.json.Encoder()


class Signals:
    """The signal endpoint."""

    def __init__(self, store: Store, dispatcher: Dispatcher) -> None:
        self.store = store
        self.dispatcher = dispatcher

    async def signal(self, req: SignalRequest) -> SignalReply:
        check_name("job", req.job_id)
        check_name("signal", req.signal)
        result = _json.encode({"ok": True, "output": req.data})
        wake = await self.store.signal(req.job_id, req.signal, result)
        if wake is not None:
            await self.dispatcher.wakes([wake])
        return SignalReply(delivered=wake is not None, buffered=wake is None)
