"""`service-deploy` (app.deploy): finds the deployment files, migrates, probes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

import app.models
from app import deploy
from tests.deploy.manifests import ROOT
from tests.servers import closed_port


def fake_checkout(folder: Path, *names: str) -> Path:
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("# placeholder\n", encoding="utf-8")
    return folder


def test_the_wheel_copy_wins_over_a_checkout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    everything = (*deploy.MIGRATIONS, *deploy.SERVING)
    monkeypatch.setattr(deploy, "PACKAGED", fake_checkout(tmp_path / "wheel", *everything))
    monkeypatch.setattr(deploy, "CHECKOUT", fake_checkout(tmp_path / "checkout", *everything))

    assert deploy.deploy_folder() == tmp_path / "wheel"
    assert deploy.deploy_folder(deploy.SERVING) == tmp_path / "wheel"


def test_a_checkout_is_used_when_nothing_is_packaged() -> None:
    assert not deploy.PACKAGED.exists()
    assert deploy.deploy_folder() == ROOT


def test_missing_files_stop_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(deploy, "PACKAGED", tmp_path / "wheel")
    monkeypatch.setattr(deploy, "CHECKOUT", fake_checkout(tmp_path / "checkout", "alembic.ini"))

    with pytest.raises(SystemExit, match=r"migrations/env\.py"):
        deploy.deploy_folder()
    with pytest.raises(SystemExit, match=r"gunicorn\.conf\.py"):
        deploy.deploy_folder(deploy.SERVING)


async def _tables(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


def test_migrate_creates_the_schema_in_a_fresh_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """No ./data yet, as on a new machine: the folder is made and every table created."""
    database = tmp_path / "new-folder" / "app.db"
    url = f"sqlite+aiosqlite:///{database}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)
    from app.core.config import get_settings

    get_settings.cache_clear()
    try:
        deploy.main(["migrate"])
    finally:
        get_settings.cache_clear()

    assert database.is_file()
    tables = asyncio.run(_tables(url))
    assert "alembic_version" in tables
    assert set(app.models.Base.metadata.tables) <= tables


def test_probe_fails_when_nothing_listens(monkeypatch: pytest.MonkeyPatch) -> None:
    with closed_port() as port:
        monkeypatch.setenv("PORT", str(port))
        assert deploy.probe(timeout=1) is False
        with pytest.raises(SystemExit) as stopped:
            deploy.main(["probe"])
    assert stopped.value.code == 1


def test_where_prints_the_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkout = fake_checkout(tmp_path, *deploy.MIGRATIONS, *deploy.SERVING)
    monkeypatch.setattr(deploy, "CHECKOUT", checkout)

    deploy.main(["where"])

    assert capsys.readouterr().out.strip() == str(checkout)


def test_unknown_arguments_are_refused_outside_serve() -> None:
    with pytest.raises(SystemExit) as stopped:
        deploy.main(["where", "--bogus"])
    assert stopped.value.code == 2


def test_serve_environment_takes_dotenv_values_the_environment_lacks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text('PORT=18299  # a comment\nWORKERS=3\nSERVICE_NAME="From Env File"\n')
    monkeypatch.setenv("WORKERS", "5")
    monkeypatch.delenv("PORT", raising=False)
    monkeypatch.delenv("SERVICE_NAME", raising=False)

    environment = deploy.environment_with_dotenv(dotenv)

    assert environment["PORT"] == "18299"
    assert environment["WORKERS"] == "5"  # the environment wins, as in Settings
    assert environment["SERVICE_NAME"] == "From Env File"


def test_serve_environment_without_dotenv_is_the_environment(tmp_path: Path) -> None:
    import os

    assert deploy.environment_with_dotenv(tmp_path / "missing.env") == dict(os.environ)
