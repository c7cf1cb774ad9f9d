"""docker-compose.yml and the Dockerfile, checked for structure (no Docker engine runs here;
the same commands run as plain processes in test_cluster.py)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from closeloop import cli, healthcheck

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    assert isinstance(env, dict), "environment as a mapping"
    return {k: str(v) for k, v in env.items() if k != "<<"}


def test_services_images_and_ports(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {
        "postgres", "temporal", "temporal-ui", "migrate", "api", "worker", "projector",
        "notifier",
    }  # fmt: skip
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["temporal"]["image"].startswith("temporalio/auto-setup:")
    assert services["temporal-ui"]["image"].startswith("temporalio/ui:")
    for name in ("postgres", "temporal", "temporal-ui"):
        assert not services[name]["image"].endswith(":latest"), f"{name}: pin the version"
    # the Temporal server keeps its state in the same PostgreSQL
    temporal = _env(services["temporal"])
    assert temporal["DB"] == "postgres12" and temporal["POSTGRES_SEEDS"] == "postgres"
    assert "7233:7233" in services["temporal"]["ports"]
    assert "8000:8000" in services["api"]["ports"]
    assert "8080:8080" in services["temporal-ui"]["ports"]


def test_closeloop_services_share_one_image_and_run_real_commands(compose: dict[str, Any]) -> None:
    services = compose["services"]
    image = services["migrate"]["image"]
    assert services["migrate"]["build"] == "."
    parser_commands = set(cli.COMMANDS)
    for name in ("migrate", "api", "worker", "projector", "notifier"):
        assert services[name]["image"] == image
        (command,) = services[name]["command"]
        assert command in parser_commands, f"{name}: closeloop {command} does not exist"
    assert services["api"]["command"] == ["api"]
    assert services["worker"]["command"] == ["worker"]
    assert services["projector"]["command"] == ["projector"]
    assert services["notifier"]["command"] == ["notifier"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["closeloop"]' in dockerfile
    # every package the project installs is copied into the image
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]:
        package = pattern.rstrip("*")
        assert f"COPY {package} ./{package}" in dockerfile, package


def test_environment_names_are_ones_closeloop_reads(compose: dict[str, Any]) -> None:
    settings_source = (ROOT / "closeloop" / "settings.py").read_text()
    known = set(re.findall(r'"(CLOSELOOP_[A-Z_]+)"', settings_source))
    for name in ("migrate", "api", "worker", "projector", "notifier"):
        env = _env(compose["services"][name]) | compose["x-closeloop-env"]
        unknown = {k for k in env if k.startswith("CLOSELOOP_")} - known
        assert not unknown, f"{name} sets variables nothing reads: {unknown}"
        assert env["CLOSELOOP_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert "@postgres:5432/" in env["CLOSELOOP_DATABASE_URL"]
        assert env["CLOSELOOP_TEMPORAL_ADDRESS"] == "temporal:7233"
        # several API processes must sign tokens with one secret
        assert env["CLOSELOOP_JWT_SECRET"]
    assert _env(compose["services"]["api"])["CLOSELOOP_API_HOST"] == "0.0.0.0"


def test_health_checks_and_start_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        if name == "migrate":
            assert service["restart"] == "no"
            continue
        test = service["healthcheck"]["test"]
        assert test[0] in ("CMD", "CMD-SHELL"), name
        if name in ("api", "worker", "projector"):
            assert test[1:4] == ["python", "-m", "closeloop.healthcheck"]
            assert test[4] == name and name in healthcheck.CHECKS
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            assert condition["condition"] in (
                "service_healthy", "service_completed_successfully",
            )  # fmt: skip
    assert services["api"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )


def test_named_volumes(compose: dict[str, Any]) -> None:
    declared = set(compose["volumes"])
    used = {
        mount.split(":", 1)[0]
        for service in compose["services"].values()
        for mount in service.get("volumes", [])
    }
    assert used and used <= declared
    assert "postgres-data" in declared
