"""The servers run from a virtualenv with only the production dependencies, as the image
installs them (`uv sync --no-dev`): the development tools in `.venv` (watchfiles, pytest,
schemathesis, ...) are not in production, and some are imported when present (uvicorn
imports watchfiles for `--reload` whether or not it reloads: 1.4 MiB per process)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".bench" / "venv"


def _uv() -> str:
    for candidate in (ROOT / ".tools" / "bin" / "uv", shutil.which("uv")):
        if candidate and Path(candidate).exists():
            return str(candidate)
    raise SystemExit("uv not found: run `make install` first")


def production_bin() -> Path:
    """The `bin` folder of the production-only virtualenv, made or brought up to date from
    `uv.lock` (the locked versions, byte-compiled; a no-op when it is current), on the
    interpreter that runs the benchmark."""
    subprocess.run(
        [
            _uv(),
            "sync",
            "--frozen",
            "--no-dev",
            "--no-install-project",
            "--compile-bytecode",
            f"--python={sys.executable}",
        ],
        cwd=ROOT,
        env={**os.environ, "UV_PROJECT_ENVIRONMENT": str(VENV)},
        check=True,
        capture_output=True,
    )
    return VENV / "bin"
