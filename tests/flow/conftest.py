"""The flow-control tests' ``ee``: commands run in the test's process (``tests.support.cli``),
without an interpreter start per command, so a schedule test's lead covers its setup only."""

from __future__ import annotations

import subprocess

import pytest

from tests.flow.helpers import Ee
from tests.support.cli import InProcessEe
from tests.support.stack import Stack


@pytest.fixture
def ee(ee_main: InProcessEe) -> Ee:
    """``ee(stack, *args, code=0, **env)``: one ``ee`` command against ``stack``, its exit code checked."""
    def run(stack: Stack, *args: str, code: int = 0, **env: str) -> subprocess.CompletedProcess[str]:
        done = ee_main(*args, env=stack.env(**env), cwd=stack.workdir)
        assert done.code == code, (args, done.code, done.out, done.err)
        return subprocess.CompletedProcess(list(args), done.code, done.out, done.err)

    return run
