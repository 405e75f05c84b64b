"""What ``ee`` needs of deployed workflows besides the requests: ``NAME[@VERSION]``, whether a
submit argument is a file or a deployed name, who deploys or retries, and the rows it prints."""

from __future__ import annotations

import getpass
import re
import socket
from pathlib import Path
from typing import Any

from shared.messages import DeployedWorkflow
from shared.naming import is_valid_name

__all__ = ["parse_ref", "rows", "submission_source", "who"]

_REF = re.compile(r"(?P<name>[^@]+)(?:@(?P<version>[0-9]{1,16}))?")


def parse_ref(text: str) -> tuple[str, int] | None:
    """``NAME`` (version 0: the latest) or ``NAME@VERSION``; None when it is neither (a bad name,
    a version that is not a number)."""
    found = _REF.fullmatch(text)
    if found is None or not is_valid_name("workflow", found["name"]):
        return None
    version = int(found["version"]) if found["version"] else 0
    if found["version"] and version == 0:
        return None  # @0 would mean the latest, which NAME alone says
    return found["name"], version


def submission_source(argument: str) -> Path | tuple[str, int]:
    """What ``ee submit ARGUMENT`` runs: the file it names if there is one (``-``: stdin), else the
    deployed workflow ``NAME[@VERSION]`` it names; a path that is neither (``x.json``,
    ``dir/x``) stays a path, which fails to be read with its own message."""
    path = Path(argument)
    if argument == "-":
        return path
    try:
        if path.exists():
            return path
    except (OSError, ValueError):  # a name too long, a NUL: no such file
        pass
    ref = parse_ref(argument)
    if ref is None or argument.endswith(".json"):
        return path
    return ref


def who() -> str:
    """Who runs this command, for the records that say who deployed or retried: user@host."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def rows(workflows: list[DeployedWorkflow]) -> list[dict[str, Any]]:
    """``ee workflow list --json``: one object per workflow, its versions oldest first."""
    return [{"name": w.name, "latest": w.latest,
             "versions": [{"version": v.version, "digest": v.digest, "deployed_at": v.deployed_at,
                           "deployed_by": v.deployed_by} for v in w.versions]} for w in workflows]
