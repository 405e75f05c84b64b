"""The README's tour, word for word: its shell block runs against a real ``ee up`` started in
a folder of its own (the tour's "one terminal"), from that same folder (the "other one")."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from tests.support.stack import poll

ROOT = Path(__file__).resolve().parents[2]


def tour() -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## A short tour\n"):]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match is not None, "the README's tour lost its shell block"
    return match.group(1)


def test_the_readme_tour_runs_word_for_word(tmp_path: Path) -> None:
    script = tour()
    assert "ee submit" in script and "redis-cli" in script and "ee signal" in script
    home = tmp_path / "project"
    home.mkdir()
    for name in (".venv", "examples"):
        (home / name).symlink_to(ROOT / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("EE_")}
    out = tmp_path / "up.out"
    with out.open("wb") as sink:
        up = subprocess.Popen([sys.executable, "-m", "ee", "up"], cwd=home, env=env, stdout=sink,
                              stderr=subprocess.STDOUT)
    try:
        def running() -> bool:
            if up.poll() is not None:
                raise AssertionError(f"ee up exited {up.returncode}:\n{out.read_text()[-3000:]}")
            return "; a service that stops is started again" in out.read_text()

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
            shown = subprocess.run([sys.executable, "-m", "ee", "status", job, "--json"], cwd=home, env=env,
                                   capture_output=True, text=True, timeout=60, check=False)
            return shown.returncode == 0 and json.loads(shown.stdout)["status"] == "completed"

        poll(completed, 30, 0.2, "the tour's approval job to complete")
    finally:
        up.send_signal(signal.SIGTERM)
        try:
            code = up.wait(timeout=40)
        except subprocess.TimeoutExpired:
            up.kill()
            raise
    assert code == 0, out.read_text()[-3000:]
