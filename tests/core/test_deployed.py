"""Deployed workflows (issue 12), against real servers through ``ee``: ``ee workflow deploy``
stores a version once, ``list`` and ``show`` read them back, ``ee submit NAME[@VERSION]`` runs
one, and every refusal is one clear line with its exit code."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ee import exits
from shared.layout import Keys
from tests.support.cli import InProcessEe, StackEe
from tests.support.stack import Stack


@pytest.fixture
def ee(ee_main: InProcessEe, tmp_path: Path) -> StackEe:
    """``ee(stack, *args)``: one command, in this process (tests.support.cli)."""
    return StackEe(ee_main, tmp_path, COLUMNS="200")


def refused(out: subprocess.CompletedProcess[str], code: int, words: str) -> None:
    assert out.returncode == code, (out.returncode, out.stdout, out.stderr)
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("ee: ") and words in out.stderr, out.stderr


def greeter(version: int, greeting: str) -> dict[str, Any]:
    return {"name": "greeter", "version": version, "start": "say", "nodes": {
        "say": {"kind": "activity", "activity": "demo.echo", "input": {"greeting": f"'{greeting}'", "who": "input.who"},
                "output": "said", "next": "done"},
        "done": {"kind": "end", "output": "vars.said"}}}


def write(tmp_path: Path, name: str, workflow: dict[str, Any]) -> str:
    (tmp_path / name).write_text(json.dumps(workflow, indent=1))
    return name


def test_deploy_list_show_and_submit_by_name(engine: Stack, tmp_path: Path, ee: StackEe) -> None:
    one = write(tmp_path, "v1.json", greeter(1, "hello"))
    out = ee(engine, "workflow", "deploy", one, "--by", "alice", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    first = json.loads(out.stdout)
    assert (first["name"], first["version"], first["created"]) == ("greeter", 1, True)

    # The same content again (spelled otherwise) changes nothing.
    (tmp_path / "v1-again.json").write_text(json.dumps(greeter(1, "hello")))
    again = ee(engine, "workflow", "deploy", "v1-again.json", cwd=tmp_path)
    assert again.returncode == 0 and "nothing changed" in again.stdout, again.stdout + again.stderr

    # Other content under a taken version is refused, naming the version and what to do.
    other = write(tmp_path, "v1-other.json", greeter(1, "hi"))
    refused(ee(engine, "workflow", "deploy", other, cwd=tmp_path), exits.BAD_INPUT,
            "workflow 'greeter' version 1 is deployed already with other content")
    assert "raise `version`" in ee(engine, "workflow", "deploy", other, cwd=tmp_path).stderr

    two = write(tmp_path, "v2.json", greeter(2, "hi"))
    assert ee(engine, "workflow", "deploy", two, "--by", "bob", cwd=tmp_path).returncode == 0

    listed = json.loads(ee(engine, "workflow", "list", "--json", cwd=tmp_path).stdout)
    assert [(w["name"], w["latest"], [v["version"] for v in w["versions"]]) for w in listed] == [
        ("greeter", 2, [1, 2])]
    assert [v["deployed_by"] for v in listed[0]["versions"]] == ["alice", "bob"]
    assert listed[0]["versions"][0]["digest"] == first["digest"]
    table = ee(engine, "workflow", "list", cwd=tmp_path)
    assert table.returncode == 0 and "greeter" in table.stdout and "bob" in table.stdout, table.stdout

    shown = json.loads(ee(engine, "workflow", "show", "greeter@1", "--json", cwd=tmp_path).stdout)
    assert (shown["version"], shown["latest"], shown["deployed_by"]) == (1, 2, "alice")
    assert shown["workflow"]["nodes"]["say"]["input"]["greeting"] == "'hello'"
    latest = ee(engine, "workflow", "show", "greeter", cwd=tmp_path)
    assert latest.returncode == 0 and "version: 2" in latest.stdout and "'hi'" in latest.stdout, latest.stdout

    # Stored once, under the digest its jobs share; readable with redis-cli.
    keys = Keys(engine.prefix)
    r = engine.redis_client()
    assert r.zrange(keys.deployed, 0, -1) == [b"greeter"]
    assert sorted(r.hkeys(keys.deployed_workflow("greeter"))) == [b"1", b"2"]
    assert r.exists(keys.workflow(first["digest"])) == 1

    # By name: the latest version; by NAME@VERSION: that one. A file of that name would win.
    latest_job = json.loads(ee(engine, "submit", "greeter", "--input", '{"who": "ann"}', "--wait", "--json",
                               cwd=tmp_path).stdout)
    assert latest_job["status"] == "completed" and latest_job["output"] == {"greeting": "hi", "who": "ann"}
    v1_job = json.loads(ee(engine, "submit", "greeter@1", "--input", '{"who": "ann"}', "--wait", "--json",
                           cwd=tmp_path).stdout)
    assert v1_job["output"] == {"greeting": "hello", "who": "ann"}
    record = engine.job(v1_job["job_id"]) or {}
    assert (record["name"], record["version"], record["digest"]) == ("greeter", 1, first["digest"])
    assert ee(engine, "submit", one, "--wait", cwd=tmp_path).returncode == 0  # a path still works


def test_what_is_not_deployed_or_not_deployable(engine: Stack, tmp_path: Path, ee: StackEe) -> None:
    refused(ee(engine, "submit", "nobody", cwd=tmp_path), exits.NOT_FOUND, "no workflow 'nobody' is deployed")
    refused(ee(engine, "workflow", "show", "nobody", cwd=tmp_path), exits.NOT_FOUND,
            "no workflow 'nobody' is deployed")
    assert ee(engine, "workflow", "deploy", write(tmp_path, "g.json", greeter(1, "x")), cwd=tmp_path).returncode == 0
    refused(ee(engine, "submit", "greeter@7", cwd=tmp_path), exits.NOT_FOUND,
            "no workflow 'greeter' version 7 is deployed")
    refused(ee(engine, "workflow", "show", "greeter@x", cwd=tmp_path), exits.BAD_INPUT, "is not NAME or NAME@VERSION")
    refused(ee(engine, "submit", "missing.json", cwd=tmp_path), exits.BAD_INPUT, "cannot read missing.json")
    refused(ee(engine, "workflow", "deploy", write(tmp_path, "zero.json", greeter(0, "x")), cwd=tmp_path),
            exits.BAD_INPUT, "field 'version': must be an integer from 1")
    bad = {"name": "bad", "start": "a", "nodes": {"a": {"kind": "end", "oops": 1}}}
    refused(ee(engine, "workflow", "deploy", write(tmp_path, "bad.json", bad), cwd=tmp_path), exits.BAD_INPUT,
            "invalid workflow: node 'a'")
    assert json.loads(ee(engine, "workflow", "list", "--json", cwd=tmp_path).stdout)[0]["name"] == "greeter"
