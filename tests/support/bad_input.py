"""Bad command-line input, many cases at once: each ``ee`` run must exit 2 with one line on
stderr (starting ``ee: `` and naming the problem) and nothing on stdout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

__all__ = ["BadCase", "assert_each_refused"]

# (workflow file content or None, ee arguments with {file} for its path, words the error holds)
BadCase = tuple[str | None, list[str], str]


def assert_each_refused(tmp_path: Path, cases: list[BadCase]) -> None:
    """Run every case at once against unreachable servers (none is needed to refuse it)."""
    env = {**os.environ, "EE_NATS_URL": "nats://127.0.0.1:1", "EE_REDIS_URL": "redis://127.0.0.1:1/0"}
    runs = []
    for index, (content, args, words) in enumerate(cases):
        path = tmp_path / f"wf{index}.json"
        if content is not None:
            path.write_text(content)
        argv = [sys.executable, "-m", "ee", *(a.format(file=path) for a in args)]
        proc = subprocess.Popen(argv, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        runs.append((args, words, proc))
    for args, words, proc in runs:
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 2, (args, err)
        assert err.count("\n") == 1 and err.startswith("ee: ") and words in err, (args, err)
        assert out == "", (args, out)
