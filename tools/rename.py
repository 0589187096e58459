"""`python -m tools.rename --name ... --code ... --package ...`: make the template yours.

Plain python3, no third-party import: Copier runs it as a task in a new service before any
virtualenv exists. It reads the current identity from the settings' defaults and
`pyproject.toml`, checks the new one against `app/core/identity.py`, then rewrites every text
file in the tree that names the old one, so files added later are covered without a list here:

- the package name wherever it stands as a word (distribution, console script, image, compose
  project, Kubernetes objects, install commands), `uv.lock`'s own entry included;
- the human name wherever it appears;
- the code where it is a value: the settings' default, `.env.example`, `urn:<code>:` error
  types, and the Markdown rows that document `SERVICE_CODE`.

Deliberate history (`CHANGELOG.md`, `docs/upgrading.md`) and Copier's answers file keep the
names they were written with. Nothing is written when a new value is bad.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from app.core.identity import SERVICE_CODE_PATTERN, SERVICE_NAME_MAX_LENGTH
from tools.errors import ToolError

PACKAGE = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
CONFIG = Path("app/core/config.py")
ENV_EXAMPLE = Path(".env.example")
PYPROJECT = Path("pyproject.toml")
NAME_DEFAULT = r'(?<=SERVICE_NAME: str = Field\()(\s*default=)"([^"]*)"'
CODE_DEFAULT = r'(?<=SERVICE_CODE: str = Field\()(\s*default=)"([^"]*)"'

# Never the project's text: tool state, caches, local data, build output.
SKIPPED_FOLDERS = frozenset(
    {
        ".git",
        ".venv",
        ".tools",
        "__pycache__",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        ".bench",
        "node_modules",
        "htmlcov",
        "wheelhouse",
        "artifacts",
        "dist",
        "build",
        "data",
        "logs",
    }
)
HISTORY = frozenset({Path("CHANGELOG.md"), Path("docs/upgrading.md")})
ANSWERS = re.compile(r"^\.copier-answers.*\.ya?ml$")


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
        name=_one(NAME_DEFAULT, config, CONFIG).group(2),
        code=_one(CODE_DEFAULT, config, CONFIG).group(2),
        package=_one(r'^name = "([^"]+)"', pyproject, PYPROJECT).group(1),
    )


def check(new: Identity) -> None:
    """The settings' own rules judge the name and code; PEP 508 the package."""
    if not new.name.strip() or len(new.name) > SERVICE_NAME_MAX_LENGTH:
        raise ToolError(f"SERVICE_NAME: use 1 to {SERVICE_NAME_MAX_LENGTH} characters")
    if any(char in new.name for char in '"\\\n'):
        raise ToolError("the service name may not contain quotes, backslashes or line breaks")
    if not re.match(SERVICE_CODE_PATTERN, new.code):
        raise ToolError(f"SERVICE_CODE {new.code!r}: must match {SERVICE_CODE_PATTERN}")
    if not PACKAGE.match(new.package):
        raise ToolError(
            f"package {new.package!r}: use lowercase letters, digits and dashes (orders-service)"
        )


def text_files(root: Path) -> Iterator[Path]:
    """Every UTF-8 text file of the project, relative to `root`, history and answers aside."""
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(name for name in subfolders if name not in SKIPPED_FOLDERS)
        for name in sorted(files):
            path = Path(folder, name).relative_to(root)
            if path in HISTORY or ANSWERS.match(name) or name.endswith((".pyc", ".pyo")):
                continue
            yield path


def _read(path: Path) -> str | None:
    try:
        data = path.read_bytes()
    except OSError:  # a dangling link, a socket: not a project file
        return None
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _package_word(package: str) -> re.Pattern[str]:
    """The package as a word of its own: `${IMAGE:-pkg:latest}` and `pkg-migrate` count,
    `my-pkg` does not."""
    return re.compile(rf"(?<![A-Za-z0-9_])(?<![A-Za-z0-9]-){re.escape(package)}(?![A-Za-z0-9_])")


def moves(root: Path, new: Identity) -> dict[Path, Path]:
    """Files named after the package (systemd units, the nginx site), to their new names. A
    file already under the new name is replaced: `copier update` writes the template's
    version under the template's name, then runs this, then merges the team's changes."""
    word = _package_word(current(root).package)
    found: dict[Path, Path] = {}
    for path in text_files(root):
        renamed = word.sub(new.package, path.name)
        if renamed != path.name:
            found[path] = path.with_name(renamed)
    return found


def _rewrite(old: Identity, new: Identity) -> Callable[[Path, str], str]:
    """How one file's text changes: the three names, each where it stands for the service."""
    package = _package_word(old.package)
    urn = f"urn:{old.code}:"
    code_cell = f"`{old.code}`"

    def rewrite(path: Path, text: str) -> str:
        if path == CONFIG:
            text = re.sub(NAME_DEFAULT, lambda m: f'{m.group(1)}"{new.name}"', text, count=1)
            text = re.sub(CODE_DEFAULT, lambda m: f'{m.group(1)}"{new.code}"', text, count=1)
        if path == ENV_EXAMPLE:
            text = re.sub(r"^SERVICE_CODE=\S*", f"SERVICE_CODE={new.code}", text, flags=re.M)
        if path.suffix == ".md":
            text = "".join(
                line.replace(code_cell, f"`{new.code}`") if "SERVICE_CODE" in line else line
                for line in text.splitlines(keepends=True)
            )
        text = text.replace(old.name, new.name).replace(urn, f"urn:{new.code}:")
        return package.sub(new.package, text)

    return rewrite


def plan(root: Path, new: Identity) -> dict[Path, str]:
    """The new text of every file that names the service; raises before any write."""
    check(new)
    old = current(root)
    for path in (CONFIG, ENV_EXAMPLE):
        if not (root / path).is_file():
            raise ToolError(f"{path} is missing")
    env_example = (root / ENV_EXAMPLE).read_text(encoding="utf-8")
    _one(r"^SERVICE_CODE=\S*", env_example, ENV_EXAMPLE)
    rewrite = _rewrite(old, new)
    texts: dict[Path, str] = {}
    for path in text_files(root):
        text = _read(root / path)
        if text is not None and (changed := rewrite(path, text)) != text:
            texts[path] = changed
    return texts


def rename(
    root: Path, *, name: str | None = None, code: str | None = None, package: str | None = None
) -> list[Path]:
    """Rename the service under `root`; the files changed, or ToolError and no change."""
    old = current(root)
    new = Identity(name=name or old.name, code=code or old.code, package=package or old.package)
    texts = plan(root, new)
    renames = moves(root, new)
    originals = {path: (root / path).read_text(encoding="utf-8") for path in texts}
    written: list[Path] = []
    try:
        for path, text in texts.items():
            (root / path).write_text(text, encoding="utf-8")
            written.append(path)
    except BaseException:  # pragma: no cover (a disk error midway: put the rest back)
        for path in written:
            (root / path).write_text(originals[path], encoding="utf-8")
        raise
    for source, target in renames.items():
        (root / source).replace(root / target)
    return [renames.get(path, path) for path in written] + [
        target for source, target in renames.items() if source not in texts
    ]


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
