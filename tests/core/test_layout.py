"""One layout: every key family declared once (shared/layout.py), built the same way in
Python and in Lua, spelled by hand nowhere else, and documented in docs/architecture.md."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest
import redis

from reactor.scripts import ScriptBook
from shared.layout import FAMILIES, BotRecord, EventRecord, JobRecord, Keys, decode_hash, lua_keys
from tests.support.stack import Stack

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("shared", "reactor", "executor", "worker", "ee", "benchmarks", "examples")
# A family's literal head as a script or module would spell it by hand ('job:{', "pool:", ...).
HEADS = sorted({re.split(r"[{<]", f.pattern)[0] for f in FAMILIES if re.split(r"[{<]", f.pattern)[0]})


def family_values() -> list[tuple[str, tuple[str, ...]]]:
    sample = {"job": "j-1", "event": "j-1~3.0", "digest": "d1", "status": "parked", "kind": "timer",
              "activity": "demo.echo", "pool": "erp", "bot": "b1", "workflow": "invoice:v2",
              "assignee": "group:finance", "schedule": "nightly", "limit": "erp", "key": "acme:1"}
    return [(f.name, tuple(sample[p] for p in f.params)) for f in FAMILIES]


def test_python_and_lua_build_the_same_keys(stack: Stack) -> None:
    keys = Keys("pre:fix'\"\\:")
    r = redis.Redis.from_url(stack.redis.url)
    try:
        for name, values in family_values():
            call = f"K.{name}" if not values else f"K.{name}({', '.join(repr(v) for v in values)})"
            lua = lua_keys(keys.prefix) + f"return {call}"
            built = getattr(keys, name)
            expected = built(*values) if values else built
            assert r.eval(lua, 0).decode() == expected, name
    finally:
        r.close()


def test_operator_visible_names_are_kept() -> None:
    keys = Keys("ee:")
    assert keys.job("J") == "ee:job:{J}"
    assert keys.event("J~2.0") == "ee:event:{J}~2.0"
    assert keys.job_history("J") == "ee:job:{J}:history"
    assert keys.pool_waiting("erp") == "ee:pool:erp:waiting"
    assert keys.bot_events("b") == "ee:bot-events:b"
    assert keys.timers == "ee:timers"


def _sources() -> list[Path]:
    return [p for d in SOURCES for p in (ROOT / d).rglob("*") if p.suffix in (".py", ".lua")
            and p.name != "layout.py"]


def test_no_key_is_spelled_by_hand() -> None:
    """Outside shared/layout.py no Lua script concatenates the prefix and no Python module puts
    a family's head after one."""
    found = []
    for path in _sources():
        text = path.read_text()
        for n, line in enumerate(text.splitlines(), 1):
            code = line.split("--")[0] if path.suffix == ".lua" else line.split("#")[0]
            if path.suffix == ".lua" and re.search(r"\bP \.\.|ARGV\[1\] \.\.", code):
                found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
            for head in HEADS:
                if re.search(rf"""(prefix\}}|P \.\. |["']ee:){re.escape(head)}""", code):
                    found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
            if re.search(r"""(\.\. |\+ ?)["']:(events|inbox|history|free|waiting|bots)["']""", code):
                found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not found, "keys spelled by hand:\n" + "\n".join(found)


def _doc_table() -> dict[str, str]:
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("## Redis keys", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        m = re.match(r"\| `ee:([^`]+)` \| ([a-z]+)", line)
        if m:
            rows[m.group(1)] = m.group(2)
    return rows


def test_the_key_table_of_the_docs_is_the_layout() -> None:
    documented = _doc_table()
    declared = {f.pattern: f.type for f in FAMILIES}
    assert documented == declared


@pytest.mark.parametrize(("record", "raw", "expected"), [
    (JobRecord, {b"fence": b"3", b"checkpoint": b'{"node":"n"}', b"error": b"", b"signal:go": b"j~1.0"},
     {"fence": 3, "checkpoint": {"node": "n"}, "error": None, "signal:go": "j~1.0"}),
    (EventRecord, {b"attempt": b"2", b"result": b"not json", b"deadline": b"12.5", b"timeout_s": b"",
                   b"multiplier": b"nan", b"newer_field": b"x"},
     {"attempt": 2, "result": "not json", "deadline": 12.5, "timeout_s": "", "multiplier": "nan",
      "newer_field": "x"}),
    (BotRecord, {b"lease_until": b"1733212345.250", b"lease_s": b"30.0", b"last_seen": b"2026-12-03T08:00:00.000Z"},
     {"lease_until": 1733212345.25, "lease_s": 30.0, "last_seen": "2026-12-03T08:00:00.000Z"}),
])
def test_hashes_are_read_through_their_record_types(record: type[msgspec.Struct], raw: dict[bytes, bytes],
                                                    expected: dict[str, object]) -> None:
    assert decode_hash(record, raw) == expected


def test_every_script_loads_with_the_generated_builders(stack: Stack) -> None:
    r = redis.Redis.from_url(stack.redis.url)
    try:
        for src in ScriptBook().sources.values():
            r.script_load(src)
    finally:
        r.close()


def test_store_is_the_reactors_only_door_to_redis() -> None:
    """No reactor module but the store and its script plumbing imports redis or reaches into
    the store's connection, scripts or batcher."""
    allowed = {"store.py", "clock_store.py", "scripts.py", "batcher.py"}  # clock_store: Store.clock()
    found = []
    for path in sorted((ROOT / "reactor").glob("*.py")):
        if path.name in allowed:
            continue
        text = path.read_text()
        for n, line in enumerate(text.splitlines(), 1):
            if re.search(r"^\s*(import redis|from redis)|\bstore\.(_\w+|redis|scripts|batcher)\b", line):
                found.append(f"{path.name}:{n}: {line.strip()}")
    assert not found, "\n".join(found)
