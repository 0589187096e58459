"""The import contracts can fail: each one breaks on an import planted in a copy of `app/`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

# contract id -> (file to plant in, line planted, the contract name lint-imports reports)
VIOLATIONS = {
    "layers": (
        "app/users/service.py",
        "import app.items.service",
        "Layers: main > domains > users > core",
    ),
    "core-imports-no-domain": (
        "app/core/config.py",
        "import app.users.schemas",
        "app.core imports no domain",
    ),
    "serving-is-the-process-managers": (
        "app/items/router.py",
        "import app.serving.worker",
        "app.serving is gunicorn's side",
    ),
    "users-public-modules": (
        "app/items/service.py",
        "import app.users.router",
        "Domains reach users only through its service, schemas and dependencies",
    ),
    "users-models-private": (
        "app/cli.py",
        "import app.users.models",
        "users.models is private to users",
    ),
    "routers-only-from-main": (
        "app/cli.py",
        "import app.items.router",
        "Nothing imports a router except app.main",
    ),
}


def _copy_tree(destination: Path) -> Path:
    shutil.copytree(ROOT / "app", destination / "app", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", destination / "pyproject.toml")
    return destination


def _lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (our own tool, fixed arguments)
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _plant(tree: Path, relative: str, line: str) -> None:
    path = tree / relative
    path.write_text(path.read_text() + f"\n{line}  # planted violation\n")


def test_contracts_hold_on_the_clean_tree(tmp_path: Path) -> None:
    result = _lint_imports(_copy_tree(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {len(VIOLATIONS)} kept, 0 broken." in result.stdout


@pytest.mark.parametrize("contract", sorted(VIOLATIONS))
def test_a_planted_violation_breaks_its_contract(tmp_path: Path, contract: str) -> None:
    relative, line, name = VIOLATIONS[contract]
    tree = _copy_tree(tmp_path)
    _plant(tree, relative, line)
    result = _lint_imports(tree)
    assert result.returncode != 0, result.stdout
    broken = [row for row in result.stdout.splitlines() if row.endswith(" BROKEN")]
    assert any(row.startswith(name) for row in broken), result.stdout
