"""``ee retry``: a failed job runs again, from where it failed or from a top-level node.

Where it resumes: the checkpoint its failing finish stored (``FinishRequest.checkpoint``: the
top-level node that failed, with the variables as they were there) or, when the finish stored
none, its last park's (the node that parked); with ``from_node``, that top-level node of its
workflow (checked here against the stored workflow JSON) with those variables. retry.lua then
sets it running under a fresh fence and a wake lease with nothing fired, as a new job is, and
the wake goes out: an executor runs it from the checkpoint node.

A job held no bot once it failed (finish released them): a checkpoint inside a bot's lock is
refused unless ``from_node`` names where to go on (a ``lock_bot``, say), and a checkpoint from
``from_node`` holds no bot.
"""

from __future__ import annotations

from typing import Any

import msgspec
import structlog

from reactor.dispatch import Dispatcher
from reactor.store import Store
from shared.bounds import bounded_text
from shared.errors import JobNotFailed, JobNotFound, NotRetryable, UnknownNode
from shared.messages import Checkpoint, RetryReply, RetryRequest, encode
from shared.naming import check_name

__all__ = ["Retries"]

log = structlog.get_logger("ee.reactor.retries")

_checkpoint = msgspec.json.Decoder(Checkpoint)
_any = msgspec.json.Decoder()


def _top_level_nodes(workflow: bytes | None) -> list[str]:
    """The node ids of a stored workflow's top level, read from its JSON (whatever kinds it has)."""
    try:
        raw: Any = _any.decode(workflow or b"{}")
    except msgspec.DecodeError:
        return []
    nodes = raw.get("nodes") if isinstance(raw, dict) else None
    return sorted(str(n) for n in nodes) if isinstance(nodes, dict) else []


class Retries:
    def __init__(self, store: Store, dispatcher: Dispatcher) -> None:
        self.store = store
        self.dispatcher = dispatcher

    async def retry(self, req: RetryRequest) -> RetryReply:
        check_name("job", req.job_id)
        if req.from_node:
            check_name("node", req.from_node)
        fields = await self.store.job_fields(req.job_id, "fence", "status", "digest", "checkpoint", "refused")
        if fields is None:
            raise JobNotFound(req.job_id)
        fence, status, digest, stored, refused = fields
        if status != "failed":
            raise JobNotFailed(req.job_id, status or "unknown")
        if refused or not digest or not stored:
            raise NotRetryable(req.job_id, f"it never started ({refused or 'no workflow or checkpoint recorded'}): "
                               "submit it again")
        try:
            checkpoint = _checkpoint.decode(stored)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise NotRetryable(req.job_id, f"its checkpoint cannot be read ({bounded_text(str(exc), 200)})") from exc
        by = bounded_text(req.by, 120) or "unknown"
        if req.from_node:
            allowed = _top_level_nodes(await self.store.workflow(digest))
            if req.from_node not in allowed:
                raise UnknownNode(req.job_id, req.from_node, allowed)
            node = req.from_node
            resumed = encode(Checkpoint(node=node, vars=checkpoint.vars, steps=checkpoint.steps))
        else:
            node = checkpoint.node
            if checkpoint.bot:
                raise NotRetryable(req.job_id, f"it held bot {checkpoint.bot!r} at node {node!r}, released when "
                                   "it failed: retry it --from a node that locks a bot (lock_bot) or needs none")
            resumed = b""  # the stored checkpoint, as it is
        out = await self.store.retry(req.job_id, int(fence or 0), resumed, node, by)
        log.info("job retried", job_id=req.job_id, node=node, by=by, retries=out.retries)
        await self.dispatcher.wakes([out.wake])
        return RetryReply(job_id=req.job_id, status="running", fence=out.fence, node=node, retries=out.retries)
