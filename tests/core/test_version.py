"""Build info is made at build time and shown by the running service."""

from __future__ import annotations

import importlib
from datetime import datetime
from pathlib import Path

import pytest
from httpx import AsyncClient

from app.core import version
from app.core.config import Settings
from tools import build_info


def test_version_has_the_documented_form() -> None:
    when = datetime(2024, 8, 8, 11, 25, 3)  # noqa: DTZ001
    assert build_info.format_version(1, "dev", "733a810", when) == "v1.2408.08-dev-733a810"


def test_collect_prefers_build_args(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_REVISION", "733a810bff5c29e4f7ffa6f27d2d57991491f895")
    monkeypatch.setenv("GIT_BRANCH", "release")
    monkeypatch.setenv("BUILD_DATE", "2024-08-08 11:25:03")
    info = build_info.collect(Settings(_env_file=None), now=datetime(2024, 8, 8).astimezone())
    assert info.git_short_revision == "733a810"
    assert info.git_branch == "release"
    assert info.version == "v1.2408.08-dev-733a810"
    assert info.build_date == "2024-08-08 11:25:03"


def test_generated_module_round_trips(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    info = version.BuildInfo(
        service="Svc",
        version="v1.2408.08-dev-733a810",
        git_branch="main",
        git_revision="733a810bff5c29e4f7ffa6f27d2d57991491f895",
        git_short_revision="733a810",
        build_date="2024-08-08 11:25:03",
    )
    package = tmp_path / "buildinfo_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    build_info.write(info, package / "version_info.py")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(version, "VERSION_MODULE", "buildinfo_pkg.version_info")
    importlib.invalidate_caches()
    assert version.load_build_info(Settings(_env_file=None)) == info


def test_missing_module_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(version, "VERSION_MODULE", "app.core.no_such_module")
    info = version.load_build_info(Settings(_env_file=None))
    assert info.git_revision == version.UNKNOWN
    assert info.version.startswith("v1-dev")


async def test_version_endpoint_shows_build_info(client: AsyncClient, settings: Settings) -> None:
    response = await client.get("/api/v1/version")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "service",
        "version",
        "git_branch",
        "git_revision",
        "git_short_revision",
        "build_date",
    }
    assert body["service"] == settings.SERVICE_NAME
