"""Reading the deployment files, and the names every process-level setting may have."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import yaml

from app.core.config import Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
# The distribution name doubles as the image and object name (renamed by `make rename`).
PACKAGE: str = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
    "name"
]
GUNICORN_CONF = ROOT / "gunicorn.conf.py"
# Read by gunicorn.conf.py or prometheus_client, not by Settings.
PROCESS_SETTINGS = {"WORKERS", "GRACEFUL_TIMEOUT", "PROMETHEUS_MULTIPROC_DIR"}
# The one-shot release step of compose and of the Kubernetes Job.
MIGRATE_AND_SUPERUSER = "alembic upgrade head && python -m app.cli create-superuser"


def load_all(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def load(path: Path) -> dict[str, Any]:
    (document,) = load_all(path)
    return document


def unknown_settings(names: set[str]) -> set[str]:
    """Names that neither Settings nor the serving process reads: typos, or stale names."""
    return names - set(Settings.model_fields) - PROCESS_SETTINGS
