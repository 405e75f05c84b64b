"""The build id of a running service: package version plus ``EE_BUILD``."""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, version

__all__ = ["build_id", "package_version"]


def package_version() -> str:
    try:
        return version("execution-engine")
    except PackageNotFoundError:
        return "0.0.0"


def build_id() -> str:
    extra = os.environ.get("EE_BUILD", "").strip()
    return f"{package_version()}+{extra}" if extra else package_version()
