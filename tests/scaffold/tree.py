"""A throwaway copy of the parts of the project the scaffolder reads and writes."""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def copy_project(destination: Path) -> Path:
    skip = shutil.ignore_patterns("__pycache__", ".pytest_cache", "version_info.py")
    for folder in ("app", "migrations", "tests", "tools"):
        shutil.copytree(ROOT / folder, destination / folder, ignore=skip)
    for name in ("pyproject.toml", "alembic.ini"):
        shutil.copy(ROOT / name, destination / name)
    return destination


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }
