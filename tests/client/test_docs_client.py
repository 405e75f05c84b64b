"""docs/client.md: every example runs against a real engine and prints what the page shows.

``python client`` blocks run one by one, each as a script of its own, from a folder
holding the repository's ``examples/``, with the engine's URLs in the environment (as
a user's shell would have them); the ``text output`` block after one holds what it must
print. ``python sketch`` blocks (placeholders for a user's own servers) must compile.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.docblocks import Block, blocks, match_output
from tests.support.stack import Stack

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "client.md"
TAGS = ("client", "sketch")


def page_blocks() -> list[Block]:
    return [b for b in blocks(PAGE) if b.lang == "python"]


def test_every_python_block_is_tagged_and_sketches_compile() -> None:
    found = page_blocks()
    for block in found:
        assert block.tag in TAGS, f"{block.where}: tag the block `python client` (run) or `python sketch`"
        if block.tag == "sketch":
            compile(block.text, block.where, "exec")
    assert sum(b.tag == "client" for b in found) >= 5, "client.md's runnable examples went missing"


def test_examples_run_against_a_real_engine(engine: Stack, tmp_path: Path) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    for block in page_blocks():
        if block.tag != "client":
            continue
        done = subprocess.run([sys.executable, "-c", block.text], cwd=tmp_path, env=engine.env(),
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, f"{block.where} exited {done.returncode}:\n{done.stderr[-3000:]}"
        assert block.output is not None, f"{block.where}: follow the example with a `text output` block"
        match_output(block.output, done.stdout)


def test_a_wrong_sample_is_caught() -> None:
    sample = Block("x.md", "text", "output", 1, "completed {'total': 69}\nsubmitted ...\n")
    match_output(sample, "completed {'total': 69}\nsubmitted job-1\n")
    for wrong in ("completed {'total': 70}\nsubmitted job-1\n", "submitted job-1\ncompleted {'total': 69}\n"):
        try:
            match_output(sample, wrong)
        except AssertionError:
            continue
        raise AssertionError(f"not caught: {wrong!r}")
