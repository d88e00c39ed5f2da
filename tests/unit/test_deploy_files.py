"""infra/deploy/: the compose file parses, and it fits the code (commands, settings, health routes, ports).

No Docker engine runs where the tests run, so nothing here starts a container:
the file is read as YAML (merge keys resolved, as Compose does) and held
against what the code offers.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.cli import main

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "infra" / "deploy"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    parsed = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert isinstance(parsed, dict)
    return parsed


def _command_text(test: Any) -> str:
    return " ".join(test) if isinstance(test, list) else str(test)


def test_every_service_the_platform_needs_is_there_with_a_health_check(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"postgres", "redis", "migrate", "api", "worker", "proxy"} <= set(services)
    for name, service in services.items():
        if name == "migrate":
            assert service["restart"] == "no", "migrations run once per deployment"
            continue
        assert _command_text(service["healthcheck"]["test"]), f"{name} has no health check"


def test_the_api_runs_several_replicas_ready_checked_and_the_workers_more_than_one(compose: dict[str, Any]) -> None:
    api, worker = compose["services"]["api"], compose["services"]["worker"]
    assert api["deploy"]["replicas"] >= 2 and worker["deploy"]["replicas"] >= 2
    port = api["command"][api["command"].index("--port") + 1]
    assert f"http://127.0.0.1:{port}/health/ready" in _command_text(api["healthcheck"]["test"])
    metrics_port = worker["command"][worker["command"].index("--metrics-port") + 1]
    assert f"http://127.0.0.1:{metrics_port}/metrics" in _command_text(worker["healthcheck"]["test"])
    nginx = (DEPLOY / "nginx.conf").read_text()
    assert f"http://api:{port}" in nginx and "location = /metrics" in nginx


def test_the_commands_are_peoplelinks_commands(compose: dict[str, Any]) -> None:
    for name in ("migrate", "api", "worker"):
        command = compose["services"][name]["command"]
        assert command[0] in main.commands, f"{name} runs `peoplelinks {command[0]}`, which does not exist"
        options = {p.opts[0] for p in main.commands[command[0]].params if p.opts[0].startswith("--")}
        assert {arg for arg in command[1:] if arg.startswith("--")} <= options


def test_every_setting_named_is_read_by_the_code_and_documented(compose: dict[str, Any]) -> None:
    code = (ROOT / "infra" / "settings.py").read_text() + (ROOT / "services" / "cli.py").read_text()
    documented = (ROOT / "docs" / "configuration.md").read_text()
    named: set[str] = set()
    for service in compose["services"].values():
        named |= set(service.get("environment") or {})
    ours = {n for n in named if n.startswith("PEOPLELINKS_") or n in ("DATABASE_URL", "REDIS_URL")}
    assert ours, "the services are configured through the environment"
    for name in ours:
        assert f'"{name}"' in code, f"{name} is read by nothing"
        assert f"`{name}`" in documented or name in documented, f"{name} is not in docs/configuration.md"


def test_every_variable_to_fill_in_is_in_the_example_env_file() -> None:
    text = (DEPLOY / "compose.yaml").read_text()
    wanted = set(re.findall(r"\$\{([A-Z_]+)", text))
    example = {line.split("=")[0] for line in (DEPLOY / "env.example").read_text().splitlines() if "=" in line}
    assert wanted and wanted <= example


def test_dependencies_name_services_and_the_image_builds_from_files_that_exist(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        for needed, how in (service.get("depends_on") or {}).items():
            assert needed in services, f"{name} depends on a service that is not there: {needed}"
            assert how["condition"] in ("service_healthy", "service_completed_successfully", "service_started")
    build = services["api"]["build"]
    context = (DEPLOY / build["context"]).resolve()
    dockerfile = context / build["dockerfile"]
    assert context == ROOT and dockerfile.exists()
    for line in dockerfile.read_text().splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            for source in line.split()[1:-1]:
                assert (context / source).exists(), f"the Dockerfile copies {source}, which is not there"
    assert 'ENTRYPOINT ["peoplelinks"]' in dockerfile.read_text()


def test_the_connections_every_process_may_open_fit_in_postgres(compose: dict[str, Any]) -> None:
    services = compose["services"]
    api = services["api"]
    uvicorn_workers = int(api["command"][api["command"].index("--workers") + 1])
    pool_max = int(api["environment"]["PEOPLELINKS_POOL_MAX"])
    worker_pool = 4  # infra.db.create_worker_pool's max_size, which the worker uses
    opened = api["deploy"]["replicas"] * uvicorn_workers * pool_max + services["worker"]["deploy"]["replicas"] * (
        worker_pool
    )
    max_connections = 100  # PostgreSQL's default; the compose file does not change it
    assert "max_connections" not in str(services["postgres"].get("command", ""))
    assert opened + 3 + 5 <= max_connections, "migrate, an admin's psql and superuser_reserved_connections"
