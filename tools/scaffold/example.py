"""The living example's files: what a new domain is copied from, found by name only."""

from __future__ import annotations

from pathlib import Path

from tools.errors import ToolError
from tools.scaffold.names import EXAMPLE, DomainNames
from tools.scaffold.words import Rename

# The folders a domain owns: its code and its tests (top-level `*.py` files).
DOMAIN_FOLDERS = ("app", "tests")


def sources(root: Path) -> dict[Path, str]:
    """`app/items/*.py` and `tests/items/*.py`, relative path -> text."""
    found: dict[Path, str] = {}
    for top in DOMAIN_FOLDERS:
        folder = root / top / EXAMPLE.domain
        files = sorted(folder.glob("*.py"))
        if not files:
            raise ToolError(f"the example {top}/{EXAMPLE.domain}/ is missing: nothing to copy")
        for path in files:
            found[path.relative_to(root)] = path.read_text(encoding="utf-8")
    return found


def target(relative: Path, names: DomainNames) -> Path:
    """Where a copy of the example's file goes: `app/items/router.py` -> `app/orders/router.py`."""
    top, _, filename = relative.parts
    return Path(top, names.domain, Rename(EXAMPLE, names).text(filename))


def own_packages(names: DomainNames) -> tuple[str, ...]:
    """The import paths of a domain's own modules (`app.items`, `tests.items`)."""
    return tuple(f"{top}.{names.domain}" for top in DOMAIN_FOLDERS)
