"""Bad command-line input, many cases at once: each ``ee`` run must exit 2 with one line on
stderr (starting ``ee: `` and naming the problem) and nothing on stdout."""

from __future__ import annotations

import os
from pathlib import Path

from tests.support.cli import InProcessEe, Ran, ee_subprocess

__all__ = ["BadCase", "assert_each_refused"]

# (workflow file content or None, ee arguments with {file} for its path, words the error holds)
BadCase = tuple[str | None, list[str], str]

_NOWHERE = {"EE_NATS_URL": "nats://127.0.0.1:1", "EE_REDIS_URL": "redis://127.0.0.1:1/0"}


def assert_each_refused(ee: InProcessEe, tmp_path: Path, cases: list[BadCase]) -> None:
    """Run every case against unreachable servers (none is needed to refuse it): the first as a
    real ``python -m ee`` (what a shell sees, meanwhile), the others through ``ee``'s entry point
    in this process (``tests.support.cli``), one after the other."""
    argvs = []
    for index, (content, args, _) in enumerate(cases):
        path = tmp_path / f"wf{index}.json"
        if content is not None:
            path.write_text(content)
        argvs.append([a.replace("{file}", str(path)) for a in args])
    real = ee_subprocess(*argvs[0], env={**os.environ, **_NOWHERE}, cwd=tmp_path)
    problems = [ee(*argv, env=_NOWHERE, cwd=tmp_path).refusal_problem(2, words)
                for argv, (_, _, words) in zip(argvs[1:], cases[1:], strict=True)]
    out, err = real.communicate(timeout=60)
    problems.insert(0, Ran(tuple(argvs[0]), real.returncode, out, err).refusal_problem(2, cases[0][2]))
    found = [p for p in problems if p is not None]
    assert not found, "\n".join(found)
