"""docs/workers.md: the page's bot is written, started and used exactly as the page says.

Its blocks run in order, from one folder, against a real reactor and executor:

- ``python <file>.py``: written to that file (the bot's module);
- ``sh worker``: an ``ee worker ...`` line, started there with the ``ee`` script and no
  ``PYTHONPATH`` (the module is found in the current folder); ready when it logs
  "worker ready"; stopped with SIGTERM at the end, which must exit 0 without a traceback;
- ``python client``: run as a script; it must print what its ``text output`` block shows;
- ``python sketch``: must compile.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

from tests.support.docblocks import Block, blocks, match_output
from tests.support.stack import Stack, poll

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "workers.md"
EE = str(Path(sys.executable).parent / "ee")
RUNNABLE = ("python", "sh", "console", "bash", "shell")


def check_tag(block: Block) -> None:
    if block.lang == "python":
        assert block.tag is not None and (block.tag in ("client", "sketch") or block.tag.endswith(".py")), \
            f"{block.where}: tag the block `python client`, `python sketch` or `python <module>.py`"
    elif block.lang in RUNNABLE:
        assert block.tag == "worker", f"{block.where}: tag the block `sh worker`"


def test_every_block_is_tagged_and_covers_the_page() -> None:
    found = blocks(PAGE)
    for block in found:
        check_tag(block)
        if block.tag == "sketch":
            compile(block.text, block.where, "exec")
    tags = [b.tag for b in found]
    assert tags.count("client") >= 3 and tags.count("worker") >= 2 and "mymod.py" in tags


def start_worker(block: Block, stack: Stack, folder: Path, index: int) -> tuple[subprocess.Popen[bytes], Path]:
    argv = shlex.split(block.text, comments=True)
    assert argv[:2] == ["ee", "worker"], f"{block.where}: a worker block starts `ee worker`"
    env = {k: v for k, v in stack.env().items() if k != "PYTHONPATH"}
    log = folder / f"worker-{index}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([EE, *argv[1:]], cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)

    def ready() -> bool:
        assert proc.poll() is None, f"{block.where}: the worker exited {proc.returncode}:\n{log.read_text()}"
        return "worker ready" in log.read_text()

    poll(ready, 30, 0.05, f"{block.where}: the worker to be ready")
    return proc, log


def test_the_page_runs_against_a_real_engine(stack: Stack, tmp_path: Path) -> None:
    stack.reactor()
    stack.executor()
    stack.wait_ready()
    workers: list[tuple[Block, subprocess.Popen[bytes], Path]] = []
    try:
        for block in blocks(PAGE):
            if block.tag is not None and block.tag.endswith(".py"):
                (tmp_path / block.tag).write_text(block.text)
            elif block.tag == "worker":
                workers.append((block, *start_worker(block, stack, tmp_path, len(workers))))
            elif block.tag == "client":
                done = subprocess.run([sys.executable, "-c", block.text], cwd=tmp_path, env=stack.env(),
                                      capture_output=True, text=True, timeout=90, check=False)
                assert done.returncode == 0, f"{block.where} exited {done.returncode}:\n{done.stderr[-3000:]}"
                assert block.output is not None, f"{block.where}: follow the example with a `text output` block"
                match_output(block.output, done.stdout)
    finally:
        stopped: list[tuple[Block, int | None, Path]] = []
        for block, proc, log in workers:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
            try:
                stopped.append((block, proc.wait(timeout=40), log))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
                stopped.append((block, None, log))
    for block, code, log in stopped:
        text = log.read_text()
        assert code == 0 and "Traceback" not in text, f"{block.where}: SIGTERM gave exit {code}:\n{text[-3000:]}"
