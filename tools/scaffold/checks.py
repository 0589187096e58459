"""Every reason to refuse a new domain, checked before anything is written."""

from __future__ import annotations

import re
import symtable
from pathlib import Path

from tools.errors import ToolError
from tools.scaffold.names import DomainNames
from tools.scaffold.words import Rename

# Names the project already uses for packages, modules, folders or shared test helpers.
RESERVED = frozenset(
    {"app", "api", "core", "main", "models", "cli", "tools", "scaffold", "tests", "migrations"}
    | {"health", "version", "auth", "conftest", "assertions", "factories", "dbutil", "test"}
    | {"docs", "deploy", "bench", "scripts"}
)
PROJECT_MARKERS = ("app/main.py", "app/models.py", "pyproject.toml", "migrations/versions")
TABLE_NAME = re.compile(r"""__tablename__\s*=\s*["'](\w+)["']|create_table\(\s*["'](\w+)["']""")
ROUTE_SEGMENT = re.compile(r"""(?:prefix=|@router\.\w+\()\s*["']/([\w-]+)""")


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


def check_project(root: Path, names: DomainNames) -> None:
    """The root is this project, and the name is free as a package, table and path."""
    name = names.domain
    for required in PROJECT_MARKERS:
        if not (root / required).exists():
            raise ToolError(f"{root} is not the project root: {required} is missing")
    if name in RESERVED:
        raise ToolError(f"{name!r} is reserved: the project uses that name already")
    for place in (root / "app", root / "tests"):
        if (place / name).exists() or (place / f"{name}.py").exists():
            where = place.relative_to(root)
            raise ToolError(f"{name!r} exists already: {where}/{name} is taken")
    if names.entity == name:
        raise ToolError(f"the singular of {name!r} is the same word: pass another --singular")
    if name in existing_tables(root):
        raise ToolError(f"a table named {name!r} exists already")
    if names.url in existing_route_segments(root):
        raise ToolError(f"the path /{names.url} is served by another router already")


def _scopes(table: symtable.SymbolTable) -> list[symtable.SymbolTable]:
    found = [table]
    for child in table.get_children():
        found.extend(_scopes(child))
    return found


def check_no_clash(path: Path, text: str, rename: Rename) -> None:
    """Refuse when the rename would make two names of one scope the same name: `item` and
    `service` both `service` for the singular `service`, say. Derived from the example's own
    scopes, so no hand-kept list of names to avoid."""
    for scope in _scopes(symtable.symtable(text, str(path), "exec")):
        renamed: dict[str, str] = {}
        for name in sorted(scope.get_identifiers()):
            new = rename.text(name)
            if new in renamed:
                raise ToolError(
                    f"{path} ({scope.get_name()}): `{renamed[new]}` and `{name}` would both "
                    f"become `{new}`; pass another --singular or name"
                )
            renamed[new] = name


def check_compiles(path: Path, text: str) -> None:
    """The renamed copy is still Python (`None` or `True` as a class name is not)."""
    try:
        compile(text, str(path), "exec", dont_inherit=True)
    except SyntaxError as error:
        raise ToolError(f"{path}: the renamed copy is not valid Python: {error.msg}") from None
