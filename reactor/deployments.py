"""Deployed workflows: the reactor's ``deploy``, ``deployed`` and ``deployments`` endpoints.

A workflow is deployed under its ``name`` and ``version`` (an integer from 1): validated in
full (``shared.workflow.decode_workflow``, as an executor would), encoded as the executors
encode it, stored once under ``workflow:<digest>`` and recorded in ``deployed:<name>``
(shared/layout.py). A version never changes: the same content again is a no-op, other content
under a taken version is refused (``VersionTaken``). ``deployed`` looks one up (version 0: the
latest, the highest number); ``ee submit NAME[@VERSION]`` and the ``call`` node run what it
answers.
"""

from __future__ import annotations

import structlog

from reactor.store import Deployment, Store
from shared.bounds import bounded_text
from shared.errors import InvalidMessage, InvalidWorkflow
from shared.messages import (
    DeployedReply,
    DeployedRequest,
    DeployedVersion,
    DeployedWorkflow,
    DeploymentsReply,
    DeploymentsRequest,
    DeployReply,
    DeployRequest,
)
from shared.naming import check_name
from shared.workflow import decode_workflow, encode_workflow, workflow_digest

__all__ = ["MAX_VERSION", "Deployments"]

log = structlog.get_logger("ee.reactor.deployments")

# Versions are stored as decimal text and compared as integers; past 2**53 a JSON reader
# (and Lua's numbers) would no longer tell two apart.
MAX_VERSION = 2**53 - 1


def _version(d: Deployment) -> DeployedVersion:
    return DeployedVersion(version=d.version, digest=d.record.digest, deployed_at=d.record.at,
                           deployed_by=d.record.by)


class Deployments:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def deploy(self, req: DeployRequest) -> DeployReply:
        workflow = decode_workflow(req.workflow)
        if not 1 <= workflow.version <= MAX_VERSION:
            raise InvalidWorkflow(None, "version", f"must be an integer from 1 to {MAX_VERSION} to deploy, "
                                  f"got {workflow.version}")
        encoded = encode_workflow(workflow)
        digest = workflow_digest(encoded)
        by = bounded_text(req.by, 120) or "unknown"
        created = await self.store.deploy(workflow.name, workflow.version, digest, encoded, by)
        if created:
            log.info("workflow deployed", workflow=workflow.name, version=workflow.version, digest=digest, by=by)
        return DeployReply(name=workflow.name, version=workflow.version, digest=digest, created=created)

    async def deployed(self, req: DeployedRequest) -> DeployedReply:
        check_name("workflow", req.name)
        if not 0 <= req.version <= MAX_VERSION:
            raise InvalidMessage("ee.reactor.deployed", f"version must be from 0 (the latest) to {MAX_VERSION}, "
                                 f"got {req.version}")
        found, data = await self.store.deployed(req.name, req.version)
        return DeployedReply(name=found.name, version=found.version, digest=found.record.digest, workflow=data)

    async def deployments(self, req: DeploymentsRequest) -> DeploymentsReply:
        if req.name:
            names = [check_name("workflow", req.name)]
        else:
            names = await self.store.deployed_names(req.limit)
        listed = []
        for name in names:
            versions = await self.store.deployments(name)
            if versions:
                listed.append(DeployedWorkflow(name=name, latest=versions[-1].version,
                                               versions=[_version(d) for d in versions]))
        return DeploymentsReply(workflows=listed)
