"""docs/operations.md: the runbook's commands are the ones run here.

Command blocks are tagged after their language (the convention is described at
the top of the runbook):

- ``sh runbook`` / ``console runbook``: each ``ee`` and ``redis-cli`` line runs
  against a real engine with parked jobs (``JOB_ID`` / ``EVENT_ID`` replaced by a
  freshly parked job per line), after its ``docker compose exec SERVICE`` or
  ``kubectl exec TARGET --`` prefix is stripped; it must exit 0 and show what the
  sample output (``console``) promises.
- ``sh deploy``: compose and kubectl commands, which need Docker or a cluster;
  the services, deployments, containers, files and settings they name must exist.

The metric names of "What to watch" are checked against real scrapes.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from ee.cli import cli
from ee.servers import find_binary
from tests.support.cli import InProcessEe, Ran
from tests.support.stack import Stack, poll

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = ROOT / "docs" / "operations.md"
TAGS = ("runbook", "deploy")
COMMAND_LANGUAGES = ("sh", "console", "bash", "shell")
ENGINE = ("reactor", "executor", "worker")

# The parked job of the runbook's samples: node `fetch`, an hour-long demo.sleep, under limit
# `erp` (never set until the runbook sets it: each parked attempt holds one of its slots).
WORKFLOW: dict[str, Any] = {
    "name": "invoice", "version": 1, "start": "fetch",
    "nodes": {
        "fetch": {"kind": "activity", "activity": "demo.sleep", "input": {"seconds": "`3600`"},
                  "output": "slept", "timeout_s": 7200, "limit": "erp", "next": "done"},
        "done": {"kind": "end", "output": "vars.slept"},
    },
}
PLACEHOLDERS = ("JOB_ID", "EVENT_ID")
# What an operator action leaves the job in.
EFFECTS = {("event", "resolve"): "completed", ("event", "fail"): "failed", ("cancel",): "cancelled"}

_FENCE = re.compile(r"^```(?P<lang>[\w-]*)(?:[ \t]+(?P<tag>[\w-]+))?[ \t]*$")
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_VARYING = re.compile(r"^[\d.:TZ+-]*$")  # numbers, times, stream ids, empty: differ from run to run


# --- reading the runbook ------------------------------------------------------------------------

@dataclass
class Command:
    text: str
    line: int
    argv: list[str]
    sample: list[str] = field(default_factory=list)


@dataclass
class Block:
    lang: str
    tag: str | None
    line: int
    lines: list[str]

    def commands(self) -> list[Command]:
        out: list[Command] = []
        if self.lang == "console":
            for offset, text in enumerate(self.lines):
                if text.startswith("$ "):
                    out.append(Command(text[2:], self.line + 1 + offset, shlex.split(text[2:], comments=True)))
                else:
                    assert out, f"operations.md:{self.line}: sample output before any '$ ' command"
                    out[-1].sample.append(text)
            return out
        pending, start = "", 0
        for offset, text in enumerate(self.lines):
            if not pending:
                start = self.line + 1 + offset
            if text.rstrip().endswith("\\"):
                pending += text.rstrip()[:-1] + " "
                continue
            joined, pending = pending + text, ""
            argv = shlex.split(joined, comments=True)
            if argv:
                out.append(Command(joined.strip(), start, argv))
        assert not pending, f"operations.md:{self.line}: block ends in a continuation"
        return out


def blocks() -> list[Block]:
    found: list[Block] = []
    current: Block | None = None
    for number, text in enumerate(RUNBOOK.read_text().splitlines(), 1):
        if current is None:
            match = _FENCE.match(text)
            if match:
                current = Block(match["lang"], match["tag"], number, [])
        elif text.startswith("```"):
            found.append(current)
            current = None
        else:
            current.lines.append(text)
    assert current is None, f"operations.md:{current.line if current else 0}: unclosed block"
    return found


def tagged(tag: str) -> list[Command]:
    return [c for b in blocks() if b.tag == tag for c in b.commands()]


def section(title: str) -> str:
    text = RUNBOOK.read_text()
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start:end]


# --- the files the commands name ----------------------------------------------------------------

def compose_services() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    return services


def k8s_docs() -> list[dict[str, Any]]:
    return [d for p in sorted((ROOT / "deploy" / "k8s").glob("*.yaml"))
            for d in yaml.safe_load_all(p.read_text()) if d is not None]


def deployments() -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in k8s_docs() if d["kind"] == "Deployment"}


def secret() -> dict[str, Any]:
    return next(d for d in k8s_docs() if d["kind"] == "Secret")


def parse_ee(args: list[str], where: str) -> None:
    """Parse an ``ee`` command line with the real click command tree, without running it."""
    command: click.Command = cli
    name = "ee"
    rest = list(args)
    while isinstance(command, click.Group):
        assert rest, f"{where}: `ee` without a command"
        name, rest = rest[0], rest[1:]
        sub = command.get_command(click.Context(command), name)
        assert sub is not None, f"{where}: no command `{name}` in ee"
        command = sub
    try:
        command.make_context(name, rest)
    except click.ClickException as exc:
        raise AssertionError(f"{where}: {exc.format_message()}") from exc


def env_assignments(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    assigned: dict[str, str] = {}
    while argv and re.match(r"^[A-Z_][A-Z0-9_]*=", argv[0]):
        key, _, value = argv[0].partition("=")
        assigned[key] = value
        argv = argv[1:]
    return assigned, argv


def strip_exec(argv: list[str], where: str) -> tuple[str, list[str]]:
    """(the container the command runs in, the command) of a ``docker compose exec`` or
    ``kubectl exec`` line; ('', argv) for a plain one."""
    if argv[:3] == ["docker", "compose", "exec"]:
        rest = [a for a in argv[3:] if a not in ("-T", "-it", "-i", "-t")]
        assert rest and not rest[0].startswith("-"), f"{where}: exec options not understood"
        service, command = rest[0], rest[1:]
        assert service in compose_services(), f"{where}: no compose service {service!r}"
        return f"compose:{service}", command
    if argv[:2] == ["kubectl", "exec"]:
        assert "--" in argv, f"{where}: kubectl exec needs `--` before the command"
        cut = argv.index("--")
        return f"k8s:{check_k8s_exec_target(argv[2:cut], where)}", argv[cut + 1:]
    return "", argv


def check_k8s_exec_target(options: list[str], where: str) -> str:
    namespace: str | None = None
    targets: list[str] = []
    args = iter(options)
    for arg in args:
        if arg in ("-n", "--namespace"):
            namespace = next(args)
        elif arg in ("-it", "-i", "-t", "--stdin", "--tty"):
            continue
        else:
            assert not arg.startswith("-"), f"{where}: kubectl exec option {arg!r} not understood"
            targets.append(arg)
    assert len(targets) == 1, f"{where}: one pod or deploy/NAME expected, got {targets}"
    target = targets[0]
    kind, _, name = target.rpartition("/")
    if kind in ("deploy", "deployment"):
        assert namespace is None and name in deployments(), f"{where}: no Deployment {name!r} in deploy/k8s"
        return name
    # A pod of NATS or Redis from their charts: the host the Secret's URLs point at.
    assert namespace is not None, f"{where}: a chart's pod needs its namespace"
    host = f"{re.sub(r'-[0-9]+$', '', target)}.{namespace}.svc"
    urls = " ".join(secret()["stringData"].values())
    assert host in urls, f"{where}: {target} in {namespace} is not the server of {urls}"
    return target


# --- deploy blocks: checked against the files ---------------------------------------------------

COMPOSE_OPTIONS: dict[str, tuple[set[str], set[str]]] = {
    # subcommand: (flags, options taking a value)
    "up": ({"-d", "--detach", "--build", "--no-deps", "--wait", "--force-recreate", "--no-build"},
           {"--scale", "-t", "--timeout"}),
    "build": ({"--no-cache", "--pull"}, set()),
    "ps": ({"-a", "--all", "-q"}, set()),
    "logs": ({"-f", "--follow"}, {"--tail", "--since"}),
    "restart": (set(), {"-t", "--timeout"}),
    "stop": (set(), {"-t", "--timeout"}),
}


def check_compose(argv: list[str], assigned: dict[str, str], where: str) -> None:
    services = compose_services()
    text = (ROOT / "docker-compose.yml").read_text()
    for key in assigned:
        assert f"${{{key}" in text, f"{where}: {key} is not used by docker-compose.yml"
    sub = argv[2]
    if sub == "exec":
        container, command = strip_exec(argv, where)
        check_inner(container, command, where)
        return
    assert sub in COMPOSE_OPTIONS, f"{where}: docker compose {sub} not known here"
    flags, valued = COMPOSE_OPTIONS[sub]
    args = iter(argv[3:])
    for arg in args:
        option, eq, inline = arg.partition("=")
        if option in valued:
            value = inline if eq else next(args)
            if option == "--scale":
                service, _, count = value.partition("=")
                assert service in services and count.isdigit(), f"{where}: --scale {value}"
        elif arg.startswith("-"):
            assert arg in flags, f"{where}: docker compose {sub} {arg} not known here"
        else:
            assert arg in services, f"{where}: no compose service {arg!r}"


def check_kubectl(argv: list[str], where: str) -> None:
    found = deployments()

    def deployment(ref: str) -> dict[str, Any]:
        kind, _, name = ref.partition("/")
        assert kind in ("deployment", "deploy") and name in found, f"{where}: no Deployment {ref!r}"
        return found[name]

    match argv[1:]:
        case ["create", "secret", "generic", name, *literals]:
            assert name == secret()["metadata"]["name"], f"{where}: the manifests use {secret()['metadata']['name']}"
            keys = {lit.removeprefix("--from-literal=").partition("=")[0] for lit in literals}
            assert all(lit.startswith("--from-literal=") for lit in literals), where
            assert keys == set(secret()["stringData"]), f"{where}: keys {keys} differ from secret.example.yaml"
        case ["apply", *files]:
            paths = [f for f in files if f != "-f"]
            assert len(paths) == files.count("-f"), f"{where}: one -f per file"
            for path in paths:
                assert (ROOT / path).is_file() and path.startswith("deploy/k8s/"), f"{where}: {path}"
            deployed = {d["metadata"]["name"] for p in paths for d in yaml.safe_load_all((ROOT / p).read_text())
                        if d and d["kind"] == "Deployment"}
            assert {"ee-reactor", "ee-executor"} <= deployed, f"{where}: applies {deployed}"
        case ["set", "image", ref, assignment]:
            container, _, image = assignment.partition("=")
            names = [c["name"] for c in deployment(ref)["spec"]["template"]["spec"]["containers"]]
            assert container in names and image, f"{where}: containers of {ref} are {names}"
        case ["set", "env", ref, *assignments]:
            deployment(ref)
            for assignment in assignments:
                key = assignment.partition("=")[0]
                assert any(f'"{key}"' in p.read_text() for p in (ROOT / "shared").glob("*.py")), \
                    f"{where}: the engine reads no {key}"
        case ["rollout", "status" | "restart" | "undo", ref]:
            deployment(ref)
        case ["scale", ref, replicas]:
            deployment(ref)
            assert re.fullmatch(r"--replicas=\d+", replicas), f"{where}: {replicas}"
        case ["exec", *_]:
            container, command = strip_exec(argv, where) if "--" in argv else (
                f"k8s:{check_k8s_exec_target(argv[2:], where)}", [])
            if command:
                check_inner(container, command, where)
        case _:
            raise AssertionError(f"{where}: kubectl command not known here: {' '.join(argv)}")


def check_inner(container: str, command: list[str], where: str) -> None:
    """A command run inside a container: ``ee`` where the engine's image runs, ``redis-cli`` in Redis."""
    assert command, f"{where}: nothing to run"
    if command[0] == "ee":
        assert container in ("compose:operator", "k8s:ee-reactor", "k8s:ee-executor"), \
            f"{where}: run ee where the engine's URLs are set (the operator's container: its NATS user may do "\
            "what the reactor's and the executor's may not)"
        # Placeholders stand for real ids, which ee checks against the name rules while parsing.
        parse_ee([substitute(arg, "job-1") for arg in command[1:]], where)
    elif command[0] == "redis-cli":
        assert container == "compose:redis" or container.startswith("k8s:redis"), f"{where}: redis-cli in {container}"
    else:
        raise AssertionError(f"{where}: only ee and redis-cli are run in containers here")


def test_every_command_block_is_tagged() -> None:
    found = blocks()
    assert found
    for block in found:
        if block.lang in COMMAND_LANGUAGES:
            assert block.tag in TAGS, f"operations.md:{block.line}: tag the block `{block.lang} runbook` or `sh deploy`"
    assert {b.tag for b in found} >= {"runbook", "deploy"}


def test_deploy_commands_name_what_the_files_define() -> None:
    commands = tagged("deploy")
    seen = set()
    for command in commands:
        where = f"operations.md:{command.line} `{command.text}`"
        assigned, argv = env_assignments(command.argv)
        if argv[:2] == ["docker", "compose"]:
            check_compose(argv, assigned, where)
        elif argv[:1] == ["kubectl"]:
            assert not assigned, where
            check_kubectl(argv, where)
        else:
            raise AssertionError(f"{where}: a deploy block holds docker compose and kubectl commands only")
        seen.add(" ".join(argv[:3]))
    # The runbook covers the hot patch, the reactor redeploy and scaling on both platforms.
    for expected in ("docker compose up", "docker compose build", "kubectl set image", "kubectl rollout status",
                     "kubectl rollout restart", "kubectl scale deployment/ee-executor"):
        assert any(s.startswith(expected) for s in seen), f"no `{expected}` in the runbook"


def test_a_broken_deploy_command_is_caught() -> None:
    for broken in ("docker compose up -d --no-deps executors", "kubectl rollout restart deployment/reactor",
                   "kubectl set image deployment/ee-executor exec=image:1",
                   "docker compose exec operator ee evnts", "docker compose exec operator ee events --knd x"):
        argv = shlex.split(broken)
        with pytest.raises(AssertionError):
            if argv[0] == "docker":
                check_compose(argv, {}, broken)
            else:
                check_kubectl(argv, broken)


# --- runbook blocks: run against a real engine --------------------------------------------------

def ops_ports(engine: Stack) -> dict[str, int]:
    """The ops port of each service of the module's engine (``module_engine``: reactor, executor
    and demo worker, each with its own), by name."""
    ports = {service.name: service.ops_port for service in engine.services}
    assert set(ports) == set(ENGINE) and all(ports.values()), ports
    return ports


def park(stack: Stack, count: int) -> Iterator[str]:
    """``count`` jobs parked on their activity, handed out one by one."""
    ids = stack.submit_many(WORKFLOW, [{}] * count, "runbook")
    client = stack.redis_client()
    keys = stack.inspector().keys

    def parked() -> bool:
        pipe = client.pipeline(transaction=False)
        for job_id in ids:
            pipe.hget(keys.event(f"{job_id}~1.0"), "status")
        return all(s == b"parked" for s in pipe.execute())

    poll(parked, 30, 0.05, f"{count} jobs parked on demo.sleep")
    return iter(ids)


def substitute(text: str, job_id: str | None) -> str:
    if job_id is None:
        return text
    return text.replace("EVENT_ID", f"{job_id}~1.0").replace("JOB_ID", job_id)


def expected_values(sample: list[str], job_id: str | None) -> list[str]:
    """What the real output must contain: each quoted value of the sample that does not vary
    (an elided one, ``"abc..."``, by its beginning)."""
    wanted = []
    for line in sample:
        for match in _QUOTED.finditer(substitute(line, job_id)):
            value = match[1]
            if _VARYING.match(value):
                continue
            wanted.append('"' + value.split("...")[0] if "..." in value else f'"{value}"')
    return wanted


def run_line(stack: Stack, ee: InProcessEe, argv: list[str], cwd: Path) -> Ran:
    """One runbook line: ``ee`` through its entry point in this process (tests/support/cli.py),
    ``redis-cli`` as the real binary."""
    env = stack.env(COLUMNS="200")
    if argv[0] == "ee":
        return ee(*argv[1:], env=env, cwd=cwd)
    full = [find_binary("redis-cli"), "-u", stack.redis.url, "--no-raw", *argv[1:]]
    ran = subprocess.run(full, env=env, cwd=cwd, capture_output=True, text=True, timeout=60, check=False)
    return Ran(tuple(argv), ran.returncode, ran.stdout, ran.stderr)


def test_runbook_commands_run_against_a_real_engine(module_engine: Stack, tmp_path: Path,
                                                    ee_main: InProcessEe) -> None:
    stack = module_engine
    commands = tagged("runbook")
    assert len(commands) >= 10, "the runbook's runnable commands went missing"
    needing = [c for c in commands if any(p in c.text or p in "".join(c.sample) for p in PLACEHOLDERS)]
    jobs = park(stack, len(needing))
    ran: set[str] = set()
    for command in commands:
        where = f"operations.md:{command.line} `{command.text}`"
        container, argv = strip_exec(command.argv, where)
        check_inner(container, argv, where)
        job_id = next(jobs) if command in needing else None
        argv = [substitute(a, job_id) for a in argv]
        out = run_line(stack, ee_main, argv, tmp_path)
        assert out.code == 0, f"{where} exited {out.code}:\n{out.err[-2000:]}"
        text = out.out
        assert text.strip(), f"{where}: no output"
        if argv[0] == "redis-cli":
            assert not re.match(r"^\((nil|empty array|error)", text), f"{where}: {text}"
        elif job_id is not None:
            shown = f"{job_id}~1.0" if "EVENT_ID" in command.text else job_id
            assert shown in text, f"{where}: {shown} not in\n{text}"
        if "--json" in argv:
            json.loads(text)
        for value in expected_values(command.sample, job_id):
            assert value in text, f"{where}: sample value {value} not in the real output:\n{text}"
        for words, status in EFFECTS.items():
            if tuple(argv[1:1 + len(words)]) == words and job_id is not None:
                assert stack.wait_job(job_id, 20)["status"] == status, where
        ran.add(" ".join(argv[:3]))
    for expected in ("redis-cli ZRANGE", "redis-cli HGETALL", "redis-cli XRANGE", "ee events --kind",
                     "ee event resolve", "ee event fail", "ee event extend"):
        assert any(r.startswith(expected) for r in ran), f"the runbook runs no `{expected}`"


# --- what to watch: the names are real ----------------------------------------------------------

def exported(port: int) -> set[str]:
    """Every sample name a scrape of /metrics can show (counters with ``_total``)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        suffixes: dict[str, tuple[str, ...]] = {"counter": ("_total",), "histogram": ("", "_bucket", "_sum", "_count")}
        names.update(family.name + s for s in suffixes.get(family.type, ("",)))
        names.update(s.name for s in family.samples)
    return names


def watch_rows() -> list[tuple[list[str], list[str]]]:
    """(metric names, services) of each row of the "What to watch" table that names a metric."""
    rows = []
    for line in section("What to watch").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 3 or cells[0] in ("metric", "---"):
            continue
        metrics = re.findall(r"\bee_[a-z0-9_]+", cells[0])
        services = [s.strip() for s in cells[1].split(",")]
        services = list(ENGINE) if services == ["all"] else services
        assert set(services) <= set(ENGINE), f"What to watch: unknown service in {cells[1]!r}"
        if metrics:
            rows.append((metrics, services))
    return rows


def test_what_to_watch_names_the_real_metrics(module_engine: Stack) -> None:
    rows = watch_rows()
    assert len(rows) >= 8
    ports = ops_ports(module_engine)
    scraped = {name: exported(port) for name, port in ports.items()}
    for metrics, services in rows:
        for service in services:
            missing = [m for m in metrics if m not in scraped[service]]
            assert not missing, f"What to watch: {missing} not exported by the {service}"
