"""`python -m tools.rename --name ... --code ... --package ...`: make the template yours.

The service's name and code live in the settings' defaults (`app/core/config.py`, mirrored in
`.env.example`) and the distribution name in `pyproject.toml` (mirrored in `uv.lock`); this
edits exactly those places, plus the deployment files where the package name doubles as the
image and object name; it checks every new value first and writes nothing when one is bad.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import TypeAdapter, ValidationError

from app.core.config import Settings
from tools.errors import ToolError

PACKAGE = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
CONFIG = Path("app/core/config.py")
ENV_EXAMPLE = Path(".env.example")
PYPROJECT = Path("pyproject.toml")
LOCK = Path("uv.lock")
README = Path("README.md")


@dataclass(frozen=True, slots=True)
class Identity:
    name: str
    code: str
    package: str


def _one(pattern: str, text: str, where: Path) -> re.Match[str]:
    match = re.search(pattern, text, re.MULTILINE)
    if match is None:
        raise ToolError(f"{where}: found no line matching {pattern!r}")
    return match


def current(root: Path) -> Identity:
    """The identity the files declare now (so renaming twice works)."""
    config = (root / CONFIG).read_text(encoding="utf-8")
    pyproject = (root / PYPROJECT).read_text(encoding="utf-8")
    return Identity(
        name=_one(r'SERVICE_NAME: str = Field\(default="([^"]*)"', config, CONFIG).group(1),
        code=_one(r'SERVICE_CODE: str = Field\(default="([^"]*)"', config, CONFIG).group(1),
        package=_one(r'^name = "([^"]+)"', pyproject, PYPROJECT).group(1),
    )


def check(new: Identity) -> None:
    """The settings' own validators judge the name and code; PEP 508 the package."""
    if '"' in new.name or "\\" in new.name:
        raise ToolError("the service name may not contain quotes or backslashes")
    for setting, value in (("SERVICE_NAME", new.name), ("SERVICE_CODE", new.code)):
        field = Settings.model_fields[setting]
        try:
            TypeAdapter(Annotated[str, *field.metadata]).validate_python(value)
        except ValidationError as error:
            first = error.errors(include_url=False, include_input=False)[0]
            raise ToolError(f"{setting}: {first['msg']}") from None
    if not PACKAGE.match(new.package):
        raise ToolError(
            f"package {new.package!r}: use lowercase letters, digits and dashes (orders-service)"
        )


def _sub(pattern: str, replacement: str, text: str, where: Path) -> str:
    result, count = re.subn(pattern, lambda _: replacement, text, count=1, flags=re.MULTILINE)
    if count != 1:
        raise ToolError(f"{where}: found no line matching {pattern!r}")
    return result


def plan(root: Path, new: Identity) -> dict[Path, str]:
    """The new text of every file that names the service; raises before any write."""
    check(new)
    old = current(root)
    texts = {path: (root / path).read_text(encoding="utf-8") for path in (CONFIG, ENV_EXAMPLE)}
    texts[CONFIG] = _sub(
        r'(?<=SERVICE_NAME: str = Field\(default=)"[^"]*"', f'"{new.name}"', texts[CONFIG], CONFIG
    )
    texts[CONFIG] = _sub(
        r'(?<=SERVICE_CODE: str = Field\(default=)"[^"]*"', f'"{new.code}"', texts[CONFIG], CONFIG
    )
    texts[ENV_EXAMPLE] = _sub(
        r'^SERVICE_NAME="[^"]*"', f'SERVICE_NAME="{new.name}"', texts[ENV_EXAMPLE], ENV_EXAMPLE
    )
    texts[ENV_EXAMPLE] = _sub(
        r"^SERVICE_CODE=\S*", f"SERVICE_CODE={new.code}", texts[ENV_EXAMPLE], ENV_EXAMPLE
    )
    pyproject = (root / PYPROJECT).read_text(encoding="utf-8")
    pyproject = _sub(r'^name = "[^"]+"', f'name = "{new.package}"', pyproject, PYPROJECT)
    # The console script carries the package's name: `orders-service create-superuser`.
    pyproject = _sub(
        r'^[a-z0-9-]+ = "app\.cli:main"', f'{new.package} = "app.cli:main"', pyproject, PYPROJECT
    )
    texts[PYPROJECT] = pyproject
    if (root / LOCK).exists():
        lock = (root / LOCK).read_text(encoding="utf-8")
        # Only the project's own entry: the one installed editable from this folder.
        own_entry = (
            rf'^name = "{re.escape(old.package)}"'
            r'(?=\nversion = "[^"]*"\nsource = \{ editable = "\." \})'
        )
        texts[LOCK] = _sub(own_entry, f'name = "{new.package}"', lock, LOCK)
    if (root / README).exists():
        readme = (root / README).read_text(encoding="utf-8")
        if readme.startswith(f"# {old.name}\n"):
            texts[README] = f"# {new.name}\n" + readme[len(f"# {old.name}\n") :]
    if new.package != old.package:
        _rename_deployment_names(root, old.package, new.package, texts)
    return texts


# Where the package name doubles as a deployment name: image, Kubernetes objects, compose
# project, Prometheus job and alert rules, Grafana dashboard, install commands in the README.
DEPLOYMENT_GLOBS = (
    "README.md",
    "Makefile",
    "Dockerfile",
    "docker-compose.yml",
    ".gitlab-ci.yml",
    ".github/workflows/*.yml",
    "deploy/**/*.yaml",
    "deploy/**/*.yml",
    "deploy/**/*.json",
)


def _rename_deployment_names(root: Path, old: str, new: str, texts: dict[Path, str]) -> None:
    token = re.compile(rf"(?<![a-z0-9-]){re.escape(old)}(?![a-z0-9])")
    for pattern in DEPLOYMENT_GLOBS:
        for found in sorted(root.glob(pattern)):
            path = found.relative_to(root)
            text = texts.get(path) or found.read_text(encoding="utf-8")
            renamed = token.sub(new, text)
            if renamed != text:
                texts[path] = renamed


def rename(
    root: Path, *, name: str | None = None, code: str | None = None, package: str | None = None
) -> list[Path]:
    """Rename the service under `root`; the files changed, or ToolError and no change."""
    old = current(root)
    new = Identity(name=name or old.name, code=code or old.code, package=package or old.package)
    texts = plan(root, new)
    originals = {path: (root / path).read_text(encoding="utf-8") for path in texts}
    changed = [path for path, text in texts.items() if text != originals[path]]
    try:
        for path in changed:
            (root / path).write_text(texts[path], encoding="utf-8")
    except BaseException:  # pragma: no cover (a disk error midway: put the rest back)
        for path in changed:
            (root / path).write_text(originals[path], encoding="utf-8")
        raise
    return changed


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tools.rename", description="Rename the service: name, code, package."
    )
    parser.add_argument("--name", help='human name, e.g. "Orders Service" (SERVICE_NAME)')
    parser.add_argument("--code", help="short code, e.g. ord (SERVICE_CODE: error URIs, logs)")
    parser.add_argument("--package", help="distribution name, e.g. orders-service (pyproject)")
    parser.add_argument("--root", default=".", help="project root (default: current folder)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not (args.name or args.code or args.package):
        sys.stderr.write("rename: give --name, --code and/or --package\n")
        return 2
    try:
        changed = rename(Path(args.root), name=args.name, code=args.code, package=args.package)
    except ToolError as error:
        sys.stderr.write(f"rename: {error}; nothing was written\n")
        return 2
    for path in changed:
        sys.stdout.write(f"changed {path}\n")
    if any(path.name == "pyproject.toml" for path in changed):
        sys.stdout.write("next: make install  (installs the project under its new name)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
