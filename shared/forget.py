"""Test-only: make this process read workflows as an older build would.

``EE_TEST_FORGET_NODE_KINDS=sleep,lock_bot`` makes :func:`shared.workflow.decode_workflow`
treat those node kinds as unknown, exactly as a build from before they existed would: the
rollout tests run an "old" executor beside a normal ("new") one. Unset, nothing changes. Never
set it in a deployment.
"""

from __future__ import annotations

import os

__all__ = ["FORGOTTEN_NODE_KINDS"]

FORGOTTEN_NODE_KINDS = frozenset(
    kind.strip() for kind in os.environ.get("EE_TEST_FORGET_NODE_KINDS", "").split(",") if kind.strip())
