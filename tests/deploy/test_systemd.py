"""deploy/systemd/: the units run the wheelhouse install as gunicorn wants it (reload on HUP,
a stop that outlasts GRACEFUL_TIMEOUT), sandboxed, with settings the service knows.
`.ci/ship.sh` runs `systemd-analyze verify` on them against a real wheelhouse install."""

from __future__ import annotations

import os
import re
import socket
import sys
from pathlib import Path

from app.core.config import Settings
from tests.deploy.manifests import ROOT, unknown_settings
from tests.servers import READY_TIMEOUT, start_server

SYSTEMD = ROOT / "deploy" / "systemd"
SERVICE = SYSTEMD / "fastapi-service-template.service"
MIGRATE = SYSTEMD / "fastapi-service-template-migrate.service"
ENVIRONMENT = SYSTEMD / "fastapi-service-template.env"
NGINX_SITE = ROOT / "deploy" / "nginx" / "fastapi-service-template.conf"
SANDBOX = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "CapabilityBoundingSet": "",
}


def options(unit: Path) -> dict[str, list[str]]:
    """Every `Name=value` of the unit, values in order of appearance."""
    found: dict[str, list[str]] = {}
    for line in unit.read_text(encoding="utf-8").splitlines():
        if match := re.match(r"^([A-Za-z]+)=(.*)$", line):
            found.setdefault(match.group(1), []).append(match.group(2))
    return found


def environment() -> dict[str, str]:
    lines = ENVIRONMENT.read_text(encoding="utf-8").splitlines()
    pairs = (line.split("=", 1) for line in lines if line and not line.startswith("#"))
    return dict(pairs)


def test_the_service_reloads_on_hup_and_stops_after_the_graceful_timeout() -> None:
    service = options(SERVICE)
    assert service["ExecStart"] == ["/opt/fastapi-service-template/bin/service-deploy serve"]
    assert service["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert service["KillSignal"] == ["SIGTERM"]
    assert service["KillMode"] == ["mixed"]  # TERM to the master; it stops its workers
    graceful = int(environment()["GRACEFUL_TIMEOUT"])
    assert graceful == Settings.model_fields["GRACEFUL_TIMEOUT"].default
    assert int(service["TimeoutStopSec"][0]) > graceful


def test_both_units_are_sandboxed_and_write_only_their_own_folders() -> None:
    for unit in (SERVICE, MIGRATE):
        found = options(unit)
        for name, value in SANDBOX.items():
            assert found.get(name) == [value], (unit.name, name)
        assert found["StateDirectory"] == ["fastapi-service-template"]
        assert found["LogsDirectory"] == ["fastapi-service-template"]
        assert found["EnvironmentFile"] == ["/etc/fastapi-service-template/service.env"]
        assert found["DynamicUser"] == ["yes"]


def test_the_settings_file_names_only_known_settings_and_writable_paths() -> None:
    settings = environment()
    assert unknown_settings(set(settings)) == set()
    assert settings["LOG_SAVE_PATH"] == "/var/log/fastapi-service-template"  # LogsDirectory
    assert settings["PROMETHEUS_MULTIPROC_DIR"].startswith("/run/fastapi-service-template/")
    assert settings["STATUS"] == "prod"


def test_the_migration_unit_runs_the_release_step() -> None:
    found = options(MIGRATE)
    assert found["Type"] == ["oneshot"]
    assert found["ExecStart"] == [
        "/opt/fastapi-service-template/bin/service-deploy migrate",
        "/opt/fastapi-service-template/bin/service-template create-superuser",
    ]


def test_gunicorn_keeps_idle_connections_longer_than_nginx_does() -> None:
    """nginx closes an idle upstream connection before gunicorn would, so it never sends a
    request on a connection gunicorn is closing (docs/serving.md)."""
    site = NGINX_SITE.read_text(encoding="utf-8")
    upstream = site.split("upstream ", 1)[1].split("}", 1)[0]
    (idle,) = re.findall(r"keepalive_timeout (\d+)s;", upstream)
    keepalive = int(environment()["KEEPALIVE"])
    assert int(idle) < keepalive
    assert f"KEEPALIVE={keepalive}" in site


def test_gunicorn_tells_systemd_it_is_ready(tmp_path: Path, database_url: str) -> None:
    """Type=notify holds only if gunicorn's master sends READY=1 to $NOTIFY_SOCKET."""
    address = tmp_path / "notify"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(address))
    listener.settimeout(READY_TIMEOUT)

    def command(port: int) -> tuple[list[str], dict[str, str]]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("TEST_")}
        env.update(
            PORT=str(port),
            WORKERS="1",
            DATABASE_URL=database_url,
            NOTIFY_SOCKET=str(address),
            PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
        )
        return [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"], env

    server = start_server(command, cwd=ROOT, output=tmp_path / "gunicorn.out", new_session=True)
    try:
        message = listener.recv(4096).decode()
    finally:
        server.stop()
        listener.close()
    assert "READY=1" in message.splitlines()
