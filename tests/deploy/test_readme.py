"""The README's tour, word for word: its shell block runs against a real ``ee up`` started in
a folder of its own (the tour's "one terminal"), from that same folder (the "other one")."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from tests.support.cli import InProcessEe
from tests.support.stack import poll
from tests.support.up import ee_up

ROOT = Path(__file__).resolve().parents[2]


def tour() -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## A short tour\n"):]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match is not None, "the README's tour lost its shell block"
    return match.group(1)


def test_the_readme_tour_runs_word_for_word(tmp_path: Path, ee_main: InProcessEe) -> None:
    script = tour()
    assert "ee submit" in script and "redis-cli" in script and "ee signal" in script
    home = tmp_path / "project"
    home.mkdir()
    for name in (".venv", "examples"):
        (home / name).symlink_to(ROOT / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("EE_")}
    with ee_up("up", cwd=home, env=env, out=tmp_path / "up.out") as up:
        def running() -> bool:
            up.check_running()
            return "; a service that stops is started again" in up.output()

        poll(running, 60, 0.1, "ee up to start its stack")
        ran = subprocess.run(["bash", "-e", "-c", script + '\necho "JOB=$JOB"\n'], cwd=home, env=env,
                             capture_output=True, text=True, timeout=120, check=False)
        assert ran.returncode == 0, f"{ran.stdout[-3000:]}\n{ran.stderr[-3000:]}"
        assert "Traceback" not in ran.stderr and "AUTH failed" not in ran.stderr, ran.stderr[-3000:]
        assert re.search(r"^job \S+ completed$", ran.stdout, re.M), ran.stdout[-3000:]
        assert '"total"' in ran.stdout  # the invoice's output
        assert '"rejected": 1' in ran.stdout and '"INV-1003"' in ran.stdout, ran.stdout[-3000:]  # the batch's
        job = re.findall(r"^JOB=(\S+)$", ran.stdout, re.M)[-1]
        assert re.search(r"signal approval (delivered|kept in the inbox of) job " + re.escape(job), ran.stdout)
        assert re.search(r"^digest$", ran.stdout, re.M), ran.stdout[-3000:]  # redis-cli HGETALL of the job

        def completed() -> bool:
            # From the tour's folder, as its other terminal would; in this process (the tour
            # itself ran the real command lines).
            shown = ee_main("status", job, "--json", env=env, cwd=home)
            return shown.code == 0 and json.loads(shown.out)["status"] == "completed"

        poll(completed, 30, 0.2, "the tour's approval job to complete")
