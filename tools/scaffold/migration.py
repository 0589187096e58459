"""The example's migration, copied as the next revision after the current head.

Only the revision header changes besides the names: `revision`, `down_revision` and the
docstring's `Revision ID`, `Revises` and `Create Date` lines.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from tools.errors import ToolError
from tools.scaffold.names import EXAMPLE
from tools.scaffold.words import Rename

VERSIONS = Path("migrations/versions")
REVISION = re.compile(r'^revision(?::[^=\n]*)? = "(?P<id>\w+)"$', re.MULTILINE)
DOWN_REVISION = re.compile(r'^down_revision(?::[^=\n]*)? = (?:"(?P<id>\w+)"|None)$', re.MULTILINE)
HEADER_LINES = {
    "revision": re.compile(r"^Revision ID: .*$", re.MULTILINE),
    "down_revision": re.compile(r"^Revises: .*$", re.MULTILINE),
    "date": re.compile(r"^Create Date: .*$", re.MULTILINE),
}


def example(root: Path) -> Path:
    """The one migration named `<revision>_create_items.py`."""
    found = sorted((root / VERSIONS).glob(f"*_create_{EXAMPLE.domain}.py"))
    if len(found) != 1:
        raise ToolError(
            f"{VERSIONS}: expected one `*_create_{EXAMPLE.domain}.py` to copy, found {len(found)}"
        )
    return found[0].relative_to(root)


def _one(pattern: re.Pattern[str], text: str, path: Path) -> re.Match[str]:
    matches = list(pattern.finditer(text))
    if len(matches) != 1:
        raise ToolError(f"{path}: expected one line matching {pattern.pattern!r}")
    return matches[0]


def head(root: Path) -> tuple[str, list[str]]:
    """The single head revision, and every revision id in the history."""
    revisions: dict[str, str | None] = {}
    for path in sorted((root / VERSIONS).glob("*.py")):
        text = path.read_text(encoding="utf-8")
        down = _one(DOWN_REVISION, text, path.relative_to(root))
        revisions[_one(REVISION, text, path.relative_to(root)).group("id")] = down.group("id")
    heads = sorted(set(revisions) - set(revisions.values()))
    if len(heads) != 1:
        raise ToolError(f"{VERSIONS}: expected one head revision, found {heads or 'none'}")
    return heads[0], list(revisions)


def next_revision(root: Path) -> str:
    """One past the highest numbered revision, four digits like `make migration` makes."""
    _, ids = head(root)
    return f"{max((int(i) for i in ids if i.isdigit()), default=0) + 1:04d}"


def restamp(text: str, revision: str, down_revision: str, when: datetime) -> str:
    """The migration's header rewritten for its new place in the history."""
    path = Path("migration")
    values = {"revision": revision, "down_revision": down_revision, "date": str(when)}
    labels = {"revision": "Revision ID", "down_revision": "Revises", "date": "Create Date"}
    for key, pattern in HEADER_LINES.items():
        text = pattern.sub(f"{labels[key]}: {values[key]}", text, count=1)
    match = _one(REVISION, text, path)
    text = f"{text[: match.start('id')]}{revision}{text[match.end('id') :]}"
    match = _one(DOWN_REVISION, text, path)
    line = match.group(0)
    kept = line[: line.index("=") + 1]
    return f'{text[: match.start()]}{kept} "{down_revision}"{text[match.end() :]}'


def copy(root: Path, rename: Rename) -> tuple[Path, str]:
    """The new migration: its path and text, as the next revision after the head."""
    source = example(root)
    revision = next_revision(root)
    current_head, _ = head(root)
    _, _, name = source.stem.partition("_")
    text = rename.text((root / source).read_text(encoding="utf-8"))
    text = restamp(text, revision, current_head, datetime.now(UTC))
    return VERSIONS / f"{revision}_{rename.text(name)}.py", text
