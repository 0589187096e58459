"""docker-compose.yml: the rules we rely on (no Docker engine runs the checks; the compose
spec schema check is in .ci/ship.sh)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.deploy.manifests import MIGRATE_AND_SUPERUSER, ROOT, load, unknown_settings

COMPOSE = ROOT / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load(COMPOSE)


def test_app_waits_for_the_one_shot_migration(compose: dict[str, Any]) -> None:
    services = compose["services"]
    migrate = services["migrate"]

    assert migrate["command"] == ["sh", "-c", MIGRATE_AND_SUPERUSER]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    app_depends = services["app"]["depends_on"]
    assert app_depends["migrate"]["condition"] == "service_completed_successfully"
    assert app_depends["postgres"]["condition"] == "service_healthy"
    assert app_depends["redis"]["condition"] == "service_healthy"


def test_app_and_migration_share_image_and_settings(compose: dict[str, Any]) -> None:
    app, migrate = compose["services"]["app"], compose["services"]["migrate"]

    assert app["image"] == migrate["image"]
    assert app["environment"] == migrate["environment"]
    assert app["build"]["target"] == "runtime"
    env = app["environment"]
    assert env["DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert "@postgres:5432/" in env["DATABASE_URL"]
    assert env["REDIS_URL"].startswith("redis://redis:6379/")


def test_environment_names_are_settings_the_service_reads(compose: dict[str, Any]) -> None:
    for name in ("app", "migrate", "app-dev"):
        env = compose["services"][name]["environment"]
        assert unknown_settings(set(env)) == set(), name


def test_stateful_services_keep_data_in_named_volumes(compose: dict[str, Any]) -> None:
    declared = set(compose["volumes"])
    used = set()
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if not source.startswith((".", "/")):
                used.add(source)
    assert used == declared
    assert {"postgres-data", "redis-data"} <= declared


def test_services_that_others_wait_on_have_healthchecks(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for service in services.values():
        for dependency, rule in service.get("depends_on", {}).items():
            assert dependency in services
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], dependency


def test_prometheus_is_optional_and_scrapes_the_app_and_the_worker(
    compose: dict[str, Any],
) -> None:
    """One scrape job (the dashboard's `$job`) reads the app and the job worker, each on the
    port its container publishes."""
    services = compose["services"]
    prometheus = services["prometheus"]
    assert prometheus["profiles"] == ["monitoring"]
    config_file = prometheus["volumes"][0].split(":")[0]
    config = load(ROOT / config_file)

    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    published = [
        f"{name}:{services[name]['ports'][0].rsplit(':', 1)[1]}" for name in ("app", "worker")
    ]
    assert job["static_configs"][0]["targets"] == published == ["app:8000", "worker:9100"]


def test_app_root_filesystem_is_read_only_with_writable_tmp(compose: dict[str, Any]) -> None:
    app = compose["services"]["app"]
    assert app["read_only"] is True
    assert "/tmp" in app["tmpfs"]  # noqa: S108
    assert app["environment"]["PROMETHEUS_MULTIPROC_DIR"] in app["tmpfs"]


def test_every_variable_has_a_default() -> None:
    """`docker compose up` works with nothing set: each ${VAR} names its default."""
    text = COMPOSE.read_text(encoding="utf-8")
    references = re.findall(r"(?<!\$)\$\{([^}]+)\}", text)
    assert references
    for reference in references:
        assert ":-" in reference, reference


def test_the_worker_shares_the_apps_image_and_settings(compose: dict[str, Any]) -> None:
    app, worker = compose["services"]["app"], compose["services"]["worker"]

    assert worker["command"] == ["python", "-m", "app.worker"]
    assert worker["image"] == app["image"]
    own = {"HOST": "0.0.0.0"}  # noqa: S104 (in its container)
    assert worker["environment"] == {**app["environment"], **own}
    assert worker["environment"]["JOBS_BROKER_URL"].startswith("redis://redis:")
    assert worker["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert worker["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "9100/metrics" in " ".join(worker["healthcheck"]["test"])
    assert worker["tmpfs"] == app["tmpfs"]  # its metrics folder included
