"""A Python script run in a fresh interpreter from the checkout: a process that has not
imported what the test process has (SDKs, a tracer provider)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_python(script: str, *args: str, env: Mapping[str, str] | None = None) -> str:
    """The script's standard output; it must exit 0 within two minutes."""
    done = subprocess.run(  # noqa: S603 (this interpreter, our script)
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        env=dict(env) if env is not None else None,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout
