"""The scaffold equals the example by construction: every generated file, renamed back, is
the example's file byte for byte (the migration's revision ids and date aside).

The name is `itens` (`iten`): as long as `items`, sorting where it sorts, and spelled nowhere
in the example, so the renaming is one-to-one both ways and ruff's import sorting and line
wrapping have nothing to change. Any other difference between a scaffold and the example
(a template, a hand edit, a tidy step that rewrites code) fails here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import dbutil
from tests.scaffold.tree import ROOT, copy_project
from tools.scaffold import example, migration
from tools.scaffold.domain import new_domain
from tools.scaffold.names import EXAMPLE, names_for
from tools.scaffold.words import Rename

NAMES = names_for("itens")
BACK = Rename(NAMES, EXAMPLE)
REVISION_LINES = re.compile(
    r"^(Revision ID|Revises|Create Date): .*$|^(down_)?revision(:[^=\n]*)? = .*$", re.MULTILINE
)


def _without_revision(text: str) -> str:
    return REVISION_LINES.sub(lambda match: f"{match.group(0).split(':')[0]}: <masked>", text)


@dataclass(frozen=True)
class Scaffold:
    root: Path
    written: list[Path]
    head_before: str


@pytest.fixture(scope="module")
def scaffolded(tmp_path_factory: pytest.TempPathFactory) -> Scaffold:
    root = copy_project(tmp_path_factory.mktemp("drift"))
    head_before, _ = migration.head(root)
    return Scaffold(root, new_domain(root, NAMES.domain), head_before)


def test_the_name_is_spelled_nowhere_in_the_example(scaffolded: Scaffold) -> None:
    """The premise of an exact round trip: renaming back cannot hit an original word."""
    root = scaffolded.root
    for relative in [*example.sources(root), migration.example(root)]:
        text = (root / relative).read_text(encoding="utf-8")
        assert BACK.text(text) == text, f"{relative} spells {NAMES.domain}: pick another name"


def test_every_generated_file_is_the_example_renamed(scaffolded: Scaffold) -> None:
    root = scaffolded.root
    copies = {example.target(relative, NAMES): relative for relative in example.sources(root)}
    assert set(copies) <= set(scaffolded.written)
    for copy, original in copies.items():
        generated = (root / copy).read_bytes().decode("utf-8")
        assert BACK.text(generated).encode() == (root / original).read_bytes(), copy
        # and nothing of the example's names is left over (a plain copy would pass the above)
        assert BACK.inverse().text(generated) == generated, copy


def test_the_migration_is_the_example_renamed_and_restamped(scaffolded: Scaffold) -> None:
    root = scaffolded.root
    [copy] = [p for p in scaffolded.written if p.parent == migration.VERSIONS]
    revision = f"{int(scaffolded.head_before) + 1:04d}"
    assert copy.name == f"{revision}_create_{NAMES.domain}.py"
    text = (root / copy).read_text(encoding="utf-8")
    assert f'revision: str = "{revision}"' in text
    assert f'down_revision: str | None = "{scaffolded.head_before}"' in text
    expected = (root / migration.example(root)).read_text(encoding="utf-8")
    assert _without_revision(BACK.text(text)) == _without_revision(expected)


def test_only_the_registry_files_are_edited(scaffolded: Scaffold) -> None:
    """The example is whole: nothing outside it gains code for a new domain."""
    edited = {p for p in scaffolded.written if (ROOT / p).exists()}
    assert edited == {Path("app/main.py"), Path("app/models.py"), Path("pyproject.toml")}


def test_the_migration_applies_and_reverts(scaffolded: Scaffold, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'drift.db'}"
    revision = f"{int(scaffolded.head_before) + 1:04d}"
    dbutil.alembic_in(scaffolded.root, url, "upgrade", "head")
    heads = dbutil.alembic_in(scaffolded.root, url, "heads")
    assert heads.stdout.split() == [revision, "(head)"]
    dbutil.alembic_in(scaffolded.root, url, "downgrade", "-1")
