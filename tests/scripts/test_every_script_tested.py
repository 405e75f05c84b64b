"""Every script has tests of its own here: for each script of NAMES and CLOCK_NAMES, some test
module of tests/scripts calls its contracts function (directly, or through a helper of the
driver in tests/support/scripts.py), and those modules name every outcome type that function
can return. test_fence.py calls every script under one table and so does not count."""

from __future__ import annotations

import ast
import typing
from pathlib import Path

from reactor import contracts
from reactor.scripts import CLOCK_NAMES, NAMES
from tests.support import scripts as driver

HERE = Path(__file__).parent
NOT_OWN_TESTS = {"test_fence.py", Path(__file__).name}


def _tree(path: str | Path) -> ast.Module:
    return ast.parse(Path(path).read_text())


def _is_contracts(func: ast.Attribute) -> bool:
    return isinstance(func.value, ast.Name) and func.value.id == "contracts"


def contract_functions() -> dict[str, set[str]]:
    """Script name -> the contracts functions that build its calls (``_call("name", ...)``)."""
    out: dict[str, set[str]] = {}
    for node in _tree(contracts.__file__).body:
        if isinstance(node, ast.FunctionDef):
            for call in ast.walk(node):
                if (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
                        and call.func.id in ("_call", "Call") and call.args
                        and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str)):
                    out.setdefault(call.args[0].value, set()).add(node.name)
    return out


def driver_helpers() -> dict[str, set[str]]:
    """Driver method -> the contracts functions it calls."""
    out: dict[str, set[str]] = {}
    [cls] = [n for n in _tree(driver.__file__).body if isinstance(n, ast.ClassDef) and n.name == "Driver"]
    for method in cls.body:
        if isinstance(method, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(method):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and _is_contracts(node.func):
                    out.setdefault(method.name, set()).add(node.func.attr)
    return out


def outcome_names(function: str) -> set[str]:
    """The outcome types a contracts function's call can return (``Call[A | B]``)."""
    [outcome] = typing.get_args(typing.get_type_hints(getattr(contracts, function))["return"])
    return {t.__name__ for t in typing.get_args(outcome) or (outcome,)}


def test_every_script_has_a_test_module_calling_it_and_naming_its_outcomes() -> None:
    functions = contract_functions()
    helpers = driver_helpers()
    calls: dict[str, set[str]] = {}  # module -> contracts functions it calls
    names: dict[str, set[str]] = {}  # module -> every name and attribute it spells
    for path in sorted(HERE.glob("test_*.py")):
        if path.name in NOT_OWN_TESTS:
            continue
        called, spelled = set(), set()
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                # contracts.<function>(...), or <driver>.<helper>(...)
                called |= {node.func.attr} if _is_contracts(node.func) else helpers.get(node.func.attr, set())
            if isinstance(node, ast.Attribute):
                spelled.add(node.attr)
            elif isinstance(node, ast.Name):
                spelled.add(node.id)
        calls[path.name], names[path.name] = called, spelled
    problems = []
    for script in (*NAMES, *CLOCK_NAMES):
        own = functions.get(script, set())
        if not own:
            problems.append(f"{script}: no contracts function builds its call")
            continue
        modules = [m for m, called in calls.items() if called & own]
        if not modules:
            problems.append(f"{script}: no test module in tests/scripts calls contracts.{'/'.join(sorted(own))}")
            continue
        spelled = set().union(*(names[m] for m in modules))
        for function in sorted(own):
            missing = outcome_names(function) - spelled
            if missing:
                problems.append(f"{script}: no test of {', '.join(modules)} names outcome "
                                f"{', '.join(sorted(missing))} of contracts.{function}")
    assert not problems, "\n".join(problems)


def test_the_scan_finds_what_it_looks_for() -> None:
    """The guard is only as good as its reading of the sources: a script it knows is found."""
    assert contract_functions()["limit_set"] == {"limit_set", "limit_delete"}
    assert driver_helpers()["retry"] == {"retry"}
    assert outcome_names("deploy") == {"Deployed", "Unchanged", "VersionTaken"}
