"""The development tools never ship: the built wheel holds no `tools/`, scaffolder or template."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.scaffold.tree import ROOT

UV = ROOT / ".tools" / "bin" / "uv"


def test_the_wheel_holds_no_development_tools(tmp_path: Path) -> None:
    if not UV.exists():
        pytest.skip("uv is installed by `make install` into .tools/")
    built = subprocess.run(  # noqa: S603 (our own build, fixed arguments)
        [str(UV), "build", "--wheel", "--offline", "--quiet", "--out-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    [wheel] = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert any(name.startswith("app/items/") for name in names)  # the listing is real
    shipped = [n for n in names if n.startswith("tools/") or "scaffold" in n or n.endswith(".tmpl")]
    assert shipped == []


def test_the_service_imports_no_tool() -> None:
    """What ships may not need what does not ship."""
    for path in (ROOT / "app").rglob("*.py"):
        for line in path.read_text(encoding="utf-8").splitlines():
            assert not line.lstrip().startswith(("from tools", "import tools")), path
