"""The fenced blocks of a doc page, for tests that run a page's examples.

A block's info string is a language and an optional tag: ```` ```python client ````.
The tag says what a test does with the block (each test names the tags it knows and
fails on an untagged block of a language it runs, so an example cannot slip past).

Sample output is a ```` ```text output ```` block right after the one it belongs to:
each of its lines must match a line of the real output, in order (other lines may come
in between); ``...`` in a sample line stands for any text (a job id, a time).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Block", "blocks", "match_output"]

_FENCE = re.compile(r"^```(?P<lang>[\w-]*)(?:[ \t]+(?P<tag>[\w./-]+))?[ \t]*$")


@dataclass
class Block:
    page: str
    lang: str
    tag: str | None
    line: int  # of the opening fence
    text: str
    output: Block | None = None  # the sample output that follows it

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def blocks(path: Path) -> list[Block]:
    """Every fenced block of ``path``, each ``text output`` block attached to the block before it."""
    found: list[Block] = []
    current: Block | None = None
    lines: list[str] = []
    for number, text in enumerate(path.read_text().splitlines(), 1):
        if current is None:
            match = _FENCE.match(text)
            if match:
                current, lines = Block(path.name, match["lang"], match["tag"], number, ""), []
        elif text.startswith("```"):
            current.text = "\n".join(lines) + "\n"
            if (current.lang, current.tag) == ("text", "output"):
                assert found, f"{current.where}: sample output before any block"
                found[-1].output = current
            else:
                found.append(current)
            current = None
        else:
            lines.append(text)
    assert current is None, f"{path.name}:{current.line if current else 0}: unclosed block"
    return found


def match_output(sample: Block, real: str) -> None:
    """Each line of ``sample`` matches a line of ``real``, in order; AssertionError naming the first that does not."""
    remaining = real.splitlines()
    for wanted in sample.text.splitlines():
        if not wanted.strip():
            continue
        pattern = re.compile(".*".join(re.escape(part) for part in wanted.strip().split("...")))
        for index, line in enumerate(remaining):
            if pattern.fullmatch(line.strip()):
                remaining = remaining[index + 1:]
                break
        else:
            raise AssertionError(f"{sample.where}: sample line {wanted!r} not in the real output (in order):\n{real}")
