"""One table of reply codes: each outcome type has a code of its own, every code a type, and
the scripts answer only with codes of the table."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec

from reactor import outcomes
from reactor.outcomes import CODES, Outcome
from reactor.scripts import CLOCK_LIBS, CLOCK_NAMES, LIBS, NAMES

LUA = Path(outcomes.__file__).parent / "lua"


def test_each_code_is_one_outcome_type() -> None:
    types = [t for t in vars(outcomes).values() if isinstance(t, type) and issubclass(t, Outcome) and t is not Outcome]
    tags = []
    for t in types:
        info = msgspec.inspect.type_info(t)
        assert isinstance(info, msgspec.inspect.StructType)
        tags.append(str(info.tag))
    assert sorted(tags) == sorted(CODES)


def test_scripts_answer_with_table_codes_only() -> None:
    used = set()
    for name in (*NAMES, *CLOCK_NAMES, *(f"lib/{lib}" for lib in (*LIBS, *CLOCK_LIBS))):
        text = (LUA / f"{name}.lua").read_text()
        assert "return {" not in text, f"{name}.lua answers a bare table, not reply(code, ...)"
        used |= set(re.findall(r"\bC\.(\w+)", text))
    assert used == set(CODES), used ^ set(CODES)  # every code answered by some script, and no other
