"""`new-domain <name>`: copy the example under the new names, register it, add its migration.

The copy is the example with its names changed and nothing else, so what a team gets can
never drift from the example the tests run (tests/scaffold/test_no_drift.py checks it). Every
check runs before the first write; a failure after it puts every file back as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tools.scaffold import example, layout, migration, registry
from tools.scaffold.checks import check_compiles, check_no_clash, check_project
from tools.scaffold.helpers import check_self_contained
from tools.scaffold.names import EXAMPLE, DomainNames, names_for
from tools.scaffold.words import Rename
from tools.scaffold.writing import Undo

REGISTRY_EDITS = {
    Path("app/main.py"): registry.register_router,
    Path("app/models.py"): registry.register_models,
    Path("pyproject.toml"): registry.register_contracts,
}


@dataclass
class Plan:
    """What one run writes, relative to the root: new files, and new text for files that exist."""

    names: DomainNames
    created: dict[Path, str] = field(default_factory=dict)
    edited: dict[Path, str] = field(default_factory=dict)


def plan(root: Path, names: DomainNames) -> Plan:
    """Every file and every edit in memory; raises before any write."""
    check_project(root, names)
    rename = Rename(EXAMPLE, names)
    sources = example.sources(root)
    source_migration = migration.example(root)
    sources[source_migration] = (root / source_migration).read_text(encoding="utf-8")
    check_self_contained(sources, rename, example.own_packages(EXAMPLE))
    result = Plan(names)
    for relative, text in sources.items():
        check_no_clash(relative, text, rename)
        if relative != source_migration:
            result.created[example.target(relative, names)] = rename.text(text)
    new_migration, text = migration.copy(root, rename)
    result.created[new_migration] = text
    for relative, text in result.created.items():
        check_compiles(relative, text)
    for relative, edit in REGISTRY_EDITS.items():
        result.edited[relative] = edit((root / relative).read_text(encoding="utf-8"), names)
    for texts in (result.created, result.edited):
        for relative, text in texts.items():
            if relative.suffix == ".py":
                texts[relative] = layout.tidy(root, relative, text)
    for relative, text in result.created.items():
        layout.check_line_lengths(relative, text)
    return result


def new_domain(root: Path, name: str, *, singular: str | None = None) -> list[Path]:
    """Scaffold the domain under `root`; the files written (relative), or ToolError and no
    change."""
    root = root.resolve()
    work = plan(root, names_for(name, singular))
    undo = Undo()
    try:
        for relative, text in work.created.items():
            undo.create(root / relative, text)
        for relative, text in work.edited.items():
            undo.replace(root / relative, text)
    except BaseException:
        undo.rollback()
        raise
    return [*work.created, *work.edited]
