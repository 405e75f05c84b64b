"""The container files, checked by what runs without a Docker engine or network.

The compose file against the Compose Specification schema (the copy that the
check-jsonschema package ships, read from the installed package), the
Kubernetes manifests against the Kubernetes schemas bundled in
kubernetes-validate (strict), and the Dockerfile's promises.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = resources.files("check_jsonschema") / "builtin_schemas" / "vendor" / "compose-spec.json"
K8S = sorted((ROOT / "deploy" / "k8s").glob("*.yaml"))
ENGINE = ("reactor", "executor", "worker")
SERVICE_COMMANDS = {
    ("python", "-m", "reactor"), ("python", "-m", "executor"), ("python", "-m", "worker", "--demo"),
}
K8S_VERSIONS = ["1.28.0", kubernetes_validate.utils.latest_version()]


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def compose_validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def k8s_docs() -> list[dict[str, Any]]:
    return [d for p in K8S for d in yaml.safe_load_all(p.read_text()) if d is not None]


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of deploy/Dockerfile, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in (ROOT / "deploy" / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    assert not pending, "Dockerfile ends in a continuation"
    return out


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


# --- compose ------------------------------------------------------------------------------------

def test_compose_file_matches_the_compose_specification() -> None:
    errors = sorted(compose_validator().iter_errors(compose()), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


@pytest.mark.parametrize("breakage", ["unknown service key", "replicas a list", "bad depends_on condition"])
def test_the_schema_check_rejects_a_broken_compose_file(breakage: str) -> None:
    broken = copy.deepcopy(compose())
    executor = broken["services"]["executor"]
    match breakage:
        case "unknown service key":
            executor["replica"] = 2
        case "replicas a list":
            executor["deploy"]["replicas"] = [2]
        case "bad depends_on condition":
            executor["depends_on"]["reactor"]["condition"] = "service_ready"
    assert list(compose_validator().iter_errors(broken))


def test_compose_runs_the_engine_on_durable_servers() -> None:
    services = compose()["services"]
    assert set(services) == {"nats", "redis", *ENGINE, "operator"}
    assert {tuple(services[name]["command"]) for name in ENGINE} == SERVICE_COMMANDS
    redis = services["redis"]
    assert redis["image"].startswith("redis:7")
    assert " --appendonly yes --appendfsync everysec " in f" {' '.join(redis['command'])} "
    nats = services["nats"]
    assert nats["image"].startswith("nats:")
    assert "-js" in nats["command"] and nats["command"][nats["command"].index("-sd") + 1] == "/data"
    assert any(v.endswith(":/data") for v in nats["volumes"]) and any(v.endswith(":/data") for v in redis["volumes"])
    assert services["executor"]["deploy"]["replicas"] == 2
    # One active reactor and a standby, healthy as a standby too (else compose never starts the executors).
    assert services["reactor"]["deploy"]["replicas"] == 2
    assert "/readyz?standby=ready" in " ".join(services["reactor"]["healthcheck"]["test"])


def test_compose_engine_services_are_configured_by_environment_and_gated_on_health() -> None:
    services = compose()["services"]
    for name, service in services.items():
        assert service["healthcheck"]["test"], name
    for name in ENGINE:
        service = services[name]
        assert service["build"] == {"context": ".", "dockerfile": "deploy/Dockerfile"}, name
        env = service["environment"]
        assert env["EE_NATS_URL"].endswith("@nats:4222"), name
        assert env["EE_REDIS_URL"].startswith("redis://:${REDIS_PASSWORD:?"), name
        assert env["EE_REDIS_URL"].endswith("@redis:6379/0"), name
        assert env["EE_OPS_PORT"] == "9100", name
        assert "/readyz" in " ".join(service["healthcheck"]["test"]), name
        for dependency in ("nats", "redis"):
            assert service["depends_on"][dependency]["condition"] == "service_healthy", name
    assert services["executor"]["depends_on"]["reactor"]["condition"] == "service_healthy"


# --- kubernetes ---------------------------------------------------------------------------------

@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("path", K8S, ids=[p.name for p in K8S])
def test_kubernetes_manifest_is_valid(path: Path, version: str) -> None:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert docs, path
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)


def test_kubernetes_manifests_are_the_promised_objects() -> None:
    kinds = {(d["kind"], d["metadata"]["name"]) for d in k8s_docs()}
    assert {
        ("Deployment", "ee-reactor"), ("Deployment", "ee-executor"), ("PodDisruptionBudget", "ee-executor"),
        ("ConfigMap", "execution-engine"), ("Secret", "execution-engine-credentials"),
        ("Service", "ee-reactor-ops"), ("Service", "ee-executor-ops"),
    } <= kinds


def test_kubernetes_rollout_keeps_jobs_parked() -> None:
    by_name = {(d["kind"], d["metadata"]["name"]): d for d in k8s_docs()}
    reactor = by_name[("Deployment", "ee-reactor")]["spec"]
    # One active reactor and a standby (the lease decides which): a rolling update is safe.
    assert reactor["replicas"] == 2
    assert reactor["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    executor = by_name[("Deployment", "ee-executor")]["spec"]
    assert executor["replicas"] == 2
    assert executor["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    config = by_name[("ConfigMap", "execution-engine")]["data"]
    grace = executor["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace == 45 and grace > float(config["EE_SHUTDOWN_GRACE_S"])
    pdb = by_name[("PodDisruptionBudget", "ee-executor")]["spec"]
    assert pdb["minAvailable"] == 1 and pdb["selector"] == executor["selector"]


def test_kubernetes_pods_probe_and_are_scraped_on_port_9100() -> None:
    docs = k8s_docs()
    services = [d for d in docs if d["kind"] == "Service"]
    for doc in (d for d in docs if d["kind"] == "Deployment"):
        pod = doc["spec"]["template"]
        container = pod["spec"]["containers"][0]
        name = doc["metadata"]["name"]
        ports = {p.get("name", str(p["containerPort"])): p["containerPort"] for p in container["ports"]}
        for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
            get = container[probe]["httpGet"]
            assert get["path"].partition("?")[0] == path, name
            if probe == "readinessProbe" and name == "ee-reactor":  # else a new pod, a standby, never gets ready
                assert get["path"] == "/readyz?standby=ready"
            assert ports.get(get["port"], get["port"]) == 9100, name
            assert container[probe].get("timeoutSeconds", 1) > 1, f"{name}: /readyz may take a second"
        assert tuple(container["command"]) in SERVICE_COMMANDS, name
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True, name
        assert doc["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items(), name
        if name in ("ee-reactor", "ee-executor"):
            assert any(s["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
                       and s["spec"]["ports"][0]["port"] == 9100 for s in services), f"{name}: no metrics Service"


def test_kubernetes_credentials_come_from_the_secret_only() -> None:
    docs = k8s_docs()
    secret = next(d for d in docs if d["kind"] == "Secret")
    for key, value in secret["stringData"].items():
        assert "CHANGE-ME" in value, f"{key}: placeholder values only"
    for role in ENGINE:
        assert "nats.nats.svc:4222" in secret["stringData"][f"EE_NATS_URL_{role.upper()}"]
    assert "redis-master.redis.svc:6379" in secret["stringData"]["EE_REDIS_URL"]
    config = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    assert not {"EE_NATS_URL", "EE_REDIS_URL"} & set(config), "credentials belong in the Secret"
    for doc in (d for d in docs if d["kind"] == "Deployment"):
        env = {e["name"]: e for e in doc["spec"]["template"]["spec"]["containers"][0].get("env", [])}
        for name in ("EE_NATS_URL", "EE_REDIS_URL"):
            if name in env:
                ref = env[name]["valueFrom"]["secretKeyRef"]
                assert ref["name"] == secret["metadata"]["name"], doc["metadata"]["name"]
                assert ref["key"] == name or ref["key"].startswith(f"{name}_"), doc["metadata"]["name"]
        assert "EE_NATS_URL" in env, doc["metadata"]["name"]
    reactor = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "ee-reactor")
    assert any(e["name"] == "EE_REDIS_URL" for e in reactor["spec"]["template"]["spec"]["containers"][0]["env"])


# --- authentication: on everywhere, one NATS user per service, as deploy/nats/auth.conf says ------

CONF = ROOT / "deploy" / "nats" / "auth.conf"
COMPOSE_USERS = {"reactor": "reactor", "executor": "executor", "worker": "worker", "operator": "operator"}
K8S_USERS = {"ee-reactor": "reactor", "ee-executor": "executor", "ee-demo-worker": "worker"}


def conf_users() -> dict[str, tuple[str, str]]:
    """user: (the environment variable of its password, its permissions block) in auth.conf."""
    found = re.findall(r'\{user: *"?([\w-]+)"?, *password: *\$(\w+), *permissions: *\$(\w+)\}', CONF.read_text())
    return {user: (variable, block) for user, variable, block in found}


def conf_block(name: str) -> str:
    text = CONF.read_text()
    return text.split(f"\n  {name} = {{\n", 1)[1].split("\n  }\n", 1)[0]


def test_the_shipped_config_has_a_user_per_role_each_with_its_own_inbox_only() -> None:
    users = conf_users()
    assert set(users) == {"reactor", "executor", "worker", "bot-b1", "client", "operator"}
    for user, (variable, block) in users.items():
        assert variable == "NATS_PASSWORD_" + user.upper().replace("-", "_"), user
        subscribe = conf_block(block).split("subscribe = ", 1)[1]
        assert f'"_INBOX_{user}.>"' in subscribe and "_INBOX.>" not in subscribe, user
        assert [s for s in re.findall(r'"(_INBOX[^"]*)"', subscribe)] == [f"_INBOX_{user}.>"], user
    text = CONF.read_text()
    assert "$JS.API.>" not in text and "PURGE" not in text
    # One delete: the reactor's of its own results consumer (taking it over from a paused reactor).
    assert re.findall(r'"[^"]*\.DELETE[^"]*"', text) == ['"$JS.API.CONSUMER.DELETE.EE_RESPONSES.ee_reactor_results"']
    assert '"$JS.API.CONSUMER.DELETE.EE_RESPONSES.ee_reactor_results"' in conf_block(users["reactor"][1])
    assert "password" not in text.replace("password: $", "")  # no literal password anywhere


def test_compose_runs_with_auth_on_and_a_user_per_service() -> None:
    services = compose()["services"]
    users = conf_users()
    nats = services["nats"]
    command = nats["command"]
    assert command[command.index("-c") + 1] == "/etc/nats/auth.conf"
    assert "./deploy/nats/auth.conf:/etc/nats/auth.conf:ro" in nats["volumes"]
    variables = {variable for variable, _ in users.values()}
    assert set(nats["environment"]) == variables
    for variable, value in nats["environment"].items():
        assert value.startswith(f"${{{variable}:?"), variable  # from .env; compose stops if unset
    redis = services["redis"]
    assert redis["command"][redis["command"].index("--requirepass") + 1].startswith("${REDIS_PASSWORD:?")
    assert redis["environment"]["REDISCLI_AUTH"].startswith("${REDIS_PASSWORD:?")
    for name, user in COMPOSE_USERS.items():
        env = services[name]["environment"]
        assert user in users, name
        assert env["EE_NATS_URL"] == f"nats://{user}:${{{users[user][0]}:?set the passwords in .env, see " \
                                     "deploy/compose-env.sh}@nats:4222", name
        assert env["EE_NATS_INBOX_PREFIX"] == f"_INBOX_{user}", name
        assert "${REDIS_PASSWORD:?" in env["EE_REDIS_URL"], name
    generator = (ROOT / "deploy" / "compose-env.sh").read_text()
    assert all(variable in generator for variable in (*variables, "REDIS_PASSWORD"))


def test_kubernetes_runs_each_service_as_its_own_nats_user() -> None:
    docs = k8s_docs()
    secret = next(d for d in docs if d["kind"] == "Secret")["stringData"]
    users = conf_users()
    for doc in (d for d in docs if d["kind"] == "Deployment"):
        name = doc["metadata"]["name"]
        user = K8S_USERS[name]
        env = {e["name"]: e for e in doc["spec"]["template"]["spec"]["containers"][0]["env"]}
        key = env["EE_NATS_URL"]["valueFrom"]["secretKeyRef"]["key"]
        assert key == f"EE_NATS_URL_{user.upper()}" and user in users, name
        assert secret[key].startswith(f"nats://{user}:CHANGE-ME@"), name
        assert env["EE_NATS_INBOX_PREFIX"]["value"] == f"_INBOX_{user}", name


# --- Dockerfile ---------------------------------------------------------------------------------

def test_dockerfile_is_a_small_multi_stage_build() -> None:
    steps = dockerfile()
    stages = [args for word, args in steps if word == "FROM"]
    assert len(stages) == 2 and all(s.split()[0] == "python:3.11-slim" for s in stages), stages
    assert stages[0].split()[-2:][0].upper() == "AS"
    build = stages[0].split()[-1]
    runtime = steps[[i for i, (w, _) in enumerate(steps) if w == "FROM"][1]:]
    runs = " ".join(args for word, args in steps if word == "RUN")
    assert "pip wheel" in runs and " ." in runs
    assert any(w == "COPY" and a.startswith(f"--from={build} ") for w, a in runtime)
    assert any(w == "RUN" and "pip install" in a for w, a in runtime)


def test_dockerfile_copies_what_the_package_needs_and_the_context_keeps_it() -> None:
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    sources = [shlex.split(args)[:-1] for word, args in dockerfile() if word == "COPY" and not args.startswith("--")]
    copied = {s for group in sources for s in group}
    for folder in ("shared", "reactor", "executor", "worker", "ee"):
        assert folder in copied, folder
    for source in copied:
        assert (ROOT / source).exists(), source
        assert source not in ignored, f"{source} is excluded by .dockerignore"
    assert "deploy" not in ignored and ".venv" in ignored and ".git" in ignored


def test_dockerfile_runs_as_non_root_with_a_health_check() -> None:
    steps = dockerfile()
    users = [args for word, args in steps if word == "USER"]
    assert users, "no USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    healthchecks = [args for word, args in steps if word == "HEALTHCHECK"]
    assert len(healthchecks) == 1
    command = healthchecks[0].partition(" CMD ")[2]
    assert "urllib.request" in command and "EE_OPS_PORT" in command and "127.0.0.1" in command
    assert "/healthz" in command
    env = " ".join(args for word, args in steps if word == "ENV")
    assert "EE_OPS_PORT=9100" in env
    cmd = [args for word, args in steps if word == "CMD"]
    assert exec_form(cmd[-1]) == ["python", "-m", "reactor"]
