"""Deployed workflows by name and version, for ``call`` nodes: what a child job runs.

A lookup asks the reactor's ``deployed`` endpoint. A given version never changes (deployed
versions are immutable), so it is kept for good; "the latest version" (``version`` 0) is
kept only briefly, so that a newly deployed version is called within seconds.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

from shared.messages import DeployedReply, DeployedRequest
from shared.reactor_client import ReactorClient
from shared.workflow import Workflow, decode_workflow

__all__ = ["LATEST_TTL_S", "Deployed", "DeployedCache"]

LATEST_TTL_S = 5.0


@dataclass(frozen=True, slots=True)
class Deployed:
    name: str
    version: int
    digest: str
    workflow: Workflow


class DeployedCache:
    def __init__(self, client: ReactorClient, size: int = 1024) -> None:
        self.client = client
        self.size = size
        self._items: OrderedDict[tuple[str, int], tuple[float, Deployed]] = OrderedDict()

    async def get(self, name: str, version: int = 0) -> Deployed:
        """The deployed workflow ``name`` at ``version`` (0: the latest). Raises
        WorkflowNotDeployed (from the reactor) when there is none."""
        key = (name, version)
        now = time.monotonic()
        found = self._items.get(key)
        if found is not None and (version or now - found[0] < LATEST_TTL_S):
            self._items.move_to_end(key)
            return found[1]
        reply = await self.client.call("deployed", DeployedRequest(name=name, version=version), DeployedReply)
        # Validated when it was deployed; read like a stored workflow (rules added since are not applied).
        deployed = Deployed(reply.name, reply.version, reply.digest, decode_workflow(reply.workflow, check_names=False))
        self._items[key] = (now, deployed)
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        return deployed
