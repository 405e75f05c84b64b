"""The worker's own settings: arguments, then the environment, then the stack file, then defaults."""

from __future__ import annotations

import pytest

from shared.errors import ConfigError
from worker import WorkerSettings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    for variable in ("EE_NATS_URL", "EE_WORKER_CONCURRENCY", "EE_BOT_LEASE_S", "EE_ACTIVITY_ACK_WAIT_S",
                     "EE_SHUTDOWN_GRACE_S", "EE_NATS_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(str(tmp_path))  # no stack file


def test_environment_then_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    assert WorkerSettings.load() == WorkerSettings()
    monkeypatch.setenv("EE_NATS_URL", "nats://bots.internal:4222")
    monkeypatch.setenv("EE_WORKER_CONCURRENCY", "8")
    monkeypatch.setenv("EE_BOT_LEASE_S", "4.5")
    monkeypatch.setenv("EE_ACTIVITY_ACK_WAIT_S", "12")
    monkeypatch.setenv("EE_SHUTDOWN_GRACE_S", "3")
    monkeypatch.setenv("EE_NATS_TOKEN", "s3cret")
    loaded = WorkerSettings.load()
    assert (loaded.nats_url, loaded.concurrency, loaded.bot_lease_s, loaded.activity_ack_wait_s,
            loaded.shutdown_grace_s, loaded.nats_token) == ("nats://bots.internal:4222", 8, 4.5, 12.0, 3.0, "s3cret")
    assert "s3cret" not in repr(loaded)
    given = WorkerSettings.load("nats://other:4222", concurrency=2)
    assert (given.nats_url, given.concurrency, given.bot_lease_s) == ("nats://other:4222", 2, 4.5)


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("EE_WORKER_CONCURRENCY", "many", "must be a whole number"),
    ("EE_WORKER_CONCURRENCY", "0", "must be at least 1"),
    ("EE_BOT_LEASE_S", "soon", "must be a number"),
    ("EE_BOT_LEASE_S", "-1", "must be positive"),
    ("EE_ACTIVITY_ACK_WAIT_S", "0", "must be positive"),
    ("EE_NATS_URL", "http://nats:4222", "scheme must be one of"),
])
def test_a_bad_value_names_its_variable(monkeypatch: pytest.MonkeyPatch, variable: str, value: str,
                                        message: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=message) as refused:
        WorkerSettings.load()
    assert refused.value.setting == variable


def test_an_unknown_argument_is_refused() -> None:
    with pytest.raises(TypeError, match="unknown worker settings"):
        WorkerSettings.load(concurency=2)
