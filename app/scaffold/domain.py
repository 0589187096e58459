"""`new-domain <name>`: check everything, write the domain, register it, make its migration.

Every check runs before the first write; the writes and the migration are undone together
when any of them fails, so a refused or failed run leaves the tree as it was.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from app.scaffold import registry
from app.scaffold.render import DomainNames, ScaffoldError, names_for, render, templates

# Names the project already uses for packages, modules, folders or shared test helpers.
RESERVED = frozenset(
    {"app", "api", "core", "main", "models", "cli", "scaffold", "tests", "migrations", "health"}
    | {"version", "auth", "conftest", "assertions", "factories", "dbutil", "test", "docs"}
)
# Identifiers the templates use for other things: a row variable may not shadow them.
TEMPLATE_IDENTIFIERS = frozenset(
    {"service", "status", "router", "response", "request", "session", "data", "changes"}
    | {"owner", "principal", "query", "updated", "tag", "rows", "statement", "after", "etag"}
    | {"field", "value", "partial", "match", "select", "position", "cursor", "row", "current"}
    | {"models", "schemas", "exceptions", "dependencies", "annotated", "header", "path"}
)
TABLE_NAME = re.compile(r"""__tablename__\s*=\s*["'](\w+)["']|create_table\(\s*["'](\w+)["']""")
ROUTE_SEGMENT = re.compile(r"""(?:prefix=|@router\.\w+\()\s*["']/([\w-]+)""")
MIGRATION_FILE = re.compile(r"^(\d{4})_\w+\.py$")


@dataclass
class Plan:
    """What one run writes: new files, and new text for files that exist."""

    names: DomainNames
    created: dict[Path, str] = field(default_factory=dict)
    edited: dict[Path, str] = field(default_factory=dict)


def _python_sources(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def existing_tables(root: Path) -> set[str]:
    """Tables the models declare or the migrations create."""
    found: set[str] = set()
    for path in [*_python_sources(root / "app"), *_python_sources(root / "migrations")]:
        for match in TABLE_NAME.finditer(path.read_text(encoding="utf-8")):
            found.add(match.group(1) or match.group(2))
    return found


def existing_route_segments(root: Path) -> set[str]:
    """First path segments routers already serve (`items`, `users`, `auth`, `version`...)."""
    found: set[str] = set()
    for path in _python_sources(root / "app"):
        found.update(ROUTE_SEGMENT.findall(path.read_text(encoding="utf-8")))
    return found


def check(root: Path, names: DomainNames) -> None:
    """Every reason to refuse, before anything is written."""
    name = names.domain
    for required in ("app/main.py", "app/models.py", "pyproject.toml", "migrations/versions"):
        if not (root / required).exists():
            raise ScaffoldError(f"{root} is not the project root: {required} is missing")
    if name in RESERVED:
        raise ScaffoldError(f"{name!r} is reserved: the project uses that name already")
    for place in (root / "app", root / "tests"):
        if (place / name).exists() or (place / f"{name}.py").exists():
            where = place.relative_to(root)
            raise ScaffoldError(f"{name!r} exists already: {where}/{name} is taken")
    if names.entity in TEMPLATE_IDENTIFIERS or names.entity in RESERVED:
        raise ScaffoldError(
            f"the singular {names.entity!r} would shadow a name the generated code uses: "
            "pass another --singular"
        )
    if name in existing_tables(root):
        raise ScaffoldError(f"a table named {name!r} exists already")
    if names.url in existing_route_segments(root):
        raise ScaffoldError(f"the path /{names.url} is served by another router already")


def plan(root: Path, names: DomainNames) -> Plan:
    """Render every file and every edit in memory; raises before any write."""
    check(root, names)
    result = Plan(names)
    values = names.as_values()
    folders = {"domain": root / "app" / names.domain, "tests": root / "tests" / names.domain}
    for kind, folder in folders.items():
        for target, text in templates(kind).items():
            result.created[folder / target] = render(text, values)
    edits = {
        root / "app" / "main.py": registry.register_router,
        root / "app" / "models.py": registry.register_models,
        root / "pyproject.toml": registry.register_contracts,
    }
    for path, edit in edits.items():
        result.edited[path] = edit(path.read_text(encoding="utf-8"), names)
    return result


def _write(path: Path, text: str) -> None:
    """Write through a temporary file and a rename: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.new")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)


class _Undo:
    """Remembers what a run changed so a failure can put everything back."""

    def __init__(self) -> None:
        self.files: list[Path] = []
        self.folders: list[Path] = []
        self.originals: dict[Path, str] = {}

    def make_folder(self, folder: Path) -> None:
        missing = [p for p in (folder, *folder.parents) if not p.exists()]
        for path in reversed(missing):
            path.mkdir()
            self.folders.append(path)

    def create(self, path: Path, text: str) -> None:
        if path.exists():
            raise ScaffoldError(f"{path} appeared while scaffolding")
        self.make_folder(path.parent)
        self.files.append(path)
        _write(path, text)

    def replace(self, path: Path, text: str) -> None:
        self.originals[path] = path.read_text(encoding="utf-8")
        _write(path, text)

    def rollback(self) -> None:
        for path, text in self.originals.items():
            _write(path, text)
        for path in reversed(self.files):
            path.unlink(missing_ok=True)
        for folder in reversed(self.folders):
            shutil.rmtree(folder, ignore_errors=True)


def _tool(name: str) -> Path | None:
    """A console script installed next to this interpreter (ruff, in the dev environment)."""
    candidate = Path(sys.executable).with_name(name)
    return candidate if candidate.exists() else None


def _tidy(root: Path, paths: list[Path]) -> None:
    """Sort imports and format what was written, so any name length gives ruff-clean code."""
    ruff = _tool("ruff")
    if ruff is None:  # pragma: no cover (ruff is in the dev environment)
        return
    files = [str(p) for p in paths if p.suffix == ".py"]
    for args in (
        ["check", "--fix", "--select", "I", "-q", "--no-cache"],
        ["format", "-q", "--no-cache"],
    ):
        subprocess.run(  # noqa: S603 (our own tool, our own files)
            [str(ruff), *args, *files], cwd=root, check=True, capture_output=True, timeout=60
        )


def next_revision(root: Path) -> str:
    numbers = [
        int(match.group(1))
        for path in (root / "migrations" / "versions").iterdir()
        if (match := MIGRATION_FILE.match(path.name))
    ]
    return f"{max(numbers, default=0) + 1:04d}"


def generate_migration(root: Path, names: DomainNames) -> Path:
    """Autogenerate the table's migration against a throwaway SQLite database at head, so the
    developer's own database (and whatever state it is in) plays no part."""
    revision = next_revision(root)
    with tempfile.TemporaryDirectory(prefix="new-domain-") as scratch:
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite+aiosqlite:///{Path(scratch) / 'scaffold.db'}",
            "SAVE": "false",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])),
        }
        for args in (
            ["upgrade", "head"],
            ["revision", "--autogenerate", "-m", f"create {names.domain}", "--rev-id", revision],
        ):
            done = subprocess.run(  # noqa: S603 (alembic of this interpreter, fixed arguments)
                [sys.executable, "-m", "alembic", *args],
                cwd=root,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            if done.returncode != 0:
                last = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:]
                raise ScaffoldError(f"alembic {args[0]} failed: {' '.join(last)}")
    created = sorted((root / "migrations" / "versions").glob(f"{revision}_*.py"))
    if len(created) != 1 or f'"{names.domain}"' not in created[0].read_text(encoding="utf-8"):
        for path in created:
            path.unlink()
        raise ScaffoldError(f"alembic made no migration creating the {names.domain} table")
    return created[0]


def new_domain(
    root: Path, name: str, *, singular: str | None = None, migration: bool = True
) -> list[Path]:
    """Scaffold the domain under `root`; the files written, or ScaffoldError and no change."""
    root = root.resolve()
    work = plan(root, names_for(name, singular))
    undo = _Undo()
    try:
        for path, text in work.created.items():
            undo.create(path, text)
        for path, text in work.edited.items():
            undo.replace(path, text)
        _tidy(root, [*work.created, *work.edited])
        if migration:
            undo.files.append(generate_migration(root, work.names))
    except BaseException:
        undo.rollback()
        raise
    return [*undo.files, *work.edited]
