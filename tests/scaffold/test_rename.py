"""`rename`: one command changes the service's name, code and package everywhere they live."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tools.errors import ToolError
from tools.rename import (
    HISTORY,
    SKIPPED_FOLDERS,
    Identity,
    current,
    main,
    rename,
    text_files,
)

ROOT = Path(__file__).resolve().parents[2]
FILES = ("pyproject.toml", "uv.lock", ".env.example", "README.md")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The whole tree, as a new service gets it (without the venv, caches and local data)."""
    shutil.copytree(
        ROOT, tmp_path / "project", ignore=shutil.ignore_patterns(*SKIPPED_FOLDERS, "*.py[co]")
    )
    return tmp_path / "project"


def _settings_in(project: Path) -> dict[str, object]:
    """The copy's own settings, read in a fresh interpreter with no service variables set."""
    script = (
        "import json; from app.core.config import Settings; "
        "d = Settings(_env_file=None); e = Settings(_env_file='.env.example'); "
        "print(json.dumps({'name': d.SERVICE_NAME, 'code': d.SERVICE_CODE, "
        "'example_matches': d.model_dump(mode='json') == e.model_dump(mode='json')}))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SERVICE_")}
    env["PYTHONPATH"] = str(project)
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", script],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def _names_other_than(old: Identity) -> Identity:
    """New names sharing nothing with the current ones (this also runs in renamed services)."""
    candidates = (
        Identity(name="Orders Service", code="ord", package="orders-service"),
        Identity(name="Ledger Service", code="ldg", package="ledger-service"),
    )
    return next(
        new
        for new in candidates
        if new.name != old.name and new.code != old.code and new.package != old.package
    )


def test_rename_changes_every_place_and_nothing_else(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = current(project)
    new = _names_other_than(old)
    args = ["--name", new.name, "--code", new.code, "--package", new.package]
    assert main([*args, "--root", str(project)]) == 0
    assert "next: make install" in capsys.readouterr().out
    assert _settings_in(project) == {"name": new.name, "code": new.code, "example_matches": True}
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == new.package
    scripts = pyproject["project"]["scripts"]
    assert scripts[new.package] == "app.cli:main"
    assert old.package not in scripts
    assert scripts["service-deploy"] == "app.deploy:main"  # other commands keep their names
    lock = tomllib.loads((project / "uv.lock").read_text())
    own = [p for p in lock["package"] if p.get("source") == {"editable": "."}]
    assert [p["name"] for p in own] == [new.package]
    assert (project / "README.md").read_text().startswith(f"# {new.name}\n")
    for path in text_files(project):
        text = (project / path).read_text(errors="replace")
        assert old.name not in text, path
        assert old.package not in text, path
        assert f"urn:{old.code}:" not in text, path
    for path in (project / "app").rglob("*.py"):
        assert f'"{old.code}"' not in path.read_text(), path
    named = [path for path in text_files(project) if old.package in path.name]
    assert named == [], "files named after the package are renamed too"
    assert (project / "deploy" / "systemd" / f"{new.package}.service").is_file()
    assert (project / "deploy" / "nginx" / f"{new.package}.conf").is_file()


def test_history_and_copier_answers_keep_their_names(project: Path) -> None:
    """The changelog tells what the template did; Copier's answers point at the template."""
    old = current(project)
    answers = project / ".copier-answers.yml"
    answers.write_text(f"_src_path: https://example.org/{old.package}.git\npackage: x\n")
    history = {path: (project / path).read_text() for path in HISTORY if (project / path).exists()}
    assert main(["--package", "orders-service", "--root", str(project)]) == 0
    assert answers.read_text().startswith(f"_src_path: https://example.org/{old.package}.git")
    assert {path: (project / path).read_text() for path in history} == history


def test_renaming_twice_and_partially_works(project: Path) -> None:
    assert main(["--code", "first", "--root", str(project)]) == 0
    assert main(["--code", "second", "--root", str(project)]) == 0
    assert _settings_in(project)["code"] == "second"
    assert current(project).package == current(ROOT).package


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--code", "Bad Code"], "SERVICE_CODE 'Bad Code': must match"),
        (["--name", ""], "give --name, --code and/or --package"),
        (["--name", "x" * 101], "SERVICE_NAME: use 1 to 100 characters"),
        (["--name", " "], "SERVICE_NAME: use 1 to 100 characters"),
        (["--name", 'say "hi"'], "may not contain quotes"),
        (["--package", "Orders_Service"], "package 'Orders_Service'"),
        ([], "give --name, --code and/or --package"),
    ],
)
def test_bad_values_are_refused_and_nothing_changes(
    project: Path, capsys: pytest.CaptureFixture[str], args: list[str], reason: str
) -> None:
    before = {name: (project / name).read_text() for name in FILES}
    config = (project / "app/core/config.py").read_text()
    assert main([*args, "--root", str(project)]) == 2
    assert reason in capsys.readouterr().err
    assert {name: (project / name).read_text() for name in FILES} == before
    assert (project / "app/core/config.py").read_text() == config


def test_a_hand_edited_config_is_refused(project: Path) -> None:
    config = project / "app/core/config.py"
    config.write_text(config.read_text().replace("SERVICE_CODE: str = Field(", "SERVICE_CODE = ("))
    with pytest.raises(ToolError, match=r"app/core/config\.py: found no line"):
        rename(project, code="ord")
    env_example = project / ".env.example"
    config.write_text((ROOT / "app/core/config.py").read_text())
    env_example.write_text(env_example.read_text().replace("SERVICE_CODE=", "# SERVICE_CODE="))
    with pytest.raises(ToolError, match=r"\.env\.example: found no line"):
        rename(project, code="ord")
    assert current(project).code == current(ROOT).code


def test_the_lock_still_matches_after_a_rename(project: Path) -> None:
    """`uv sync --frozen` (make install) trusts the lock: it must agree with pyproject.toml."""
    uv = ROOT / ".tools" / "bin" / "uv"
    if not uv.exists():
        pytest.skip("uv is installed by `make install` into .tools/")
    assert main(["--package", "orders-service", "--root", str(project)]) == 0
    checked = subprocess.run(  # noqa: S603
        [str(uv), "lock", "--check", "--offline"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
