"""The container files, checked by what runs without a Docker engine.

The compose file against the Compose Specification schema (as vendored by
check-jsonschema), the Kubernetes manifests against the Kubernetes schemas
(kubernetes-validate, strict), and the Dockerfile's promises.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = sorted((ROOT / "deploy" / "k8s").glob("*.yaml"))
SERVICE_COMMANDS = {
    ("python", "-m", "reactor"), ("python", "-m", "executor"), ("python", "-m", "worker", "--demo"),
}


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def test_compose_file_matches_the_compose_specification() -> None:
    schema_file = resources.files("check_jsonschema") / "builtin_schemas" / "vendor" / "compose-spec.json"
    schema = json.loads(schema_file.read_text())
    jsonschema.validate(compose(), schema)


def test_compose_runs_the_engine_on_durable_servers() -> None:
    services = compose()["services"]
    assert {tuple(services[name]["command"]) for name in ("reactor", "executor", "worker")} == SERVICE_COMMANDS
    assert "--appendonly" in services["redis"]["command"] and "yes" in services["redis"]["command"]
    assert "-js" in services["nats"]["command"] and "/data" in services["nats"]["command"]
    assert services["executor"]["deploy"]["replicas"] == 2
    for name in ("reactor", "executor", "worker"):
        env = services[name]["environment"]
        assert env["EE_NATS_URL"] == "nats://nats:4222" and env["EE_REDIS_URL"].startswith("redis://redis:")


@pytest.mark.parametrize("path", K8S, ids=[p.name for p in K8S])
def test_kubernetes_manifest_is_valid(path: Path) -> None:
    for doc in yaml.safe_load_all(path.read_text()):
        kubernetes_validate.validate(doc, "1.30.0", strict=True)


def test_kubernetes_rollout_keeps_jobs_parked() -> None:
    docs = [d for p in K8S for d in yaml.safe_load_all(p.read_text())]
    by_name = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    executor = by_name[("Deployment", "ee-executor")]["spec"]
    assert executor["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert executor["template"]["spec"]["terminationGracePeriodSeconds"] > 30  # > EE_SHUTDOWN_GRACE_S
    assert by_name[("Deployment", "ee-reactor")]["spec"]["strategy"]["type"] == "Recreate"
    assert by_name[("PodDisruptionBudget", "ee-executor")]["spec"]["minAvailable"] == 1
    for (kind, _), doc in by_name.items():
        if kind == "Deployment":
            container = doc["spec"]["template"]["spec"]["containers"][0]
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
            assert tuple(container["command"]) in SERVICE_COMMANDS


def test_dockerfile_runs_as_non_root_with_a_health_check() -> None:
    text = (ROOT / "deploy" / "Dockerfile").read_text()
    assert text.count("FROM ") == 2  # multi-stage
    user = [line.split()[1] for line in text.splitlines() if line.startswith("USER ")]
    assert user and user[-1] not in ("root", "0")
    assert "HEALTHCHECK" in text and "/healthz" in text
    for folder in ("shared", "reactor", "executor", "worker", "ee", "benchmarks"):
        assert f"COPY {folder} ./{folder}" in text
        assert (ROOT / folder / "__init__.py").exists()
