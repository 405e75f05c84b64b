"""`ee worker --activities MODULE` finds MODULE in the current folder, without PYTHONPATH."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EE = str(Path(sys.executable).parent / "ee")


def run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([EE, "worker", *args], cwd=folder, env=env, capture_output=True, text=True, timeout=30)


def test_module_in_the_current_folder_is_found(tmp_path: Path) -> None:
    # register() exits at once with a code of its own: proof it was imported, no server needed.
    (tmp_path / "mymod.py").write_text("def register(worker):\n    raise SystemExit(7)\n")
    assert run(tmp_path, "--activities", "mymod").returncode == 7


def test_missing_module_is_one_line(tmp_path: Path) -> None:
    done = run(tmp_path, "--activities", "nosuchmod")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "no module named 'nosuchmod'" in done.stderr, done.stderr
    (tmp_path / "empty.py").write_text("")
    done = run(tmp_path, "--activities", "empty")
    assert done.returncode == 2 and "has no register(worker) function" in done.stderr, done.stderr
