"""Shared test helpers named after the example (`tests.factories.create_items`).

The copied tests import them under the new name (`create_orders`), so each such helper gets a
renamed copy appended to its own module. A name outside `tests/` is refused instead: core and
the other domains must not grow code for a domain.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tools.errors import ToolError
from tools.scaffold.words import Rename

DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _wanted(sources: dict[Path, str], rename: Rename, own: tuple[str, ...]) -> dict[str, set[str]]:
    """Module -> names the copies import from outside their own packages that the rename
    changes."""
    wanted: dict[str, set[str]] = {}
    for path, text in sources.items():
        for node in ast.walk(ast.parse(text, str(path))):
            if not isinstance(node, ast.ImportFrom) or node.level or node.module is None:
                continue
            if any(node.module == p or node.module.startswith(f"{p}.") for p in own):
                continue
            for alias in node.names:
                if rename.text(alias.name) != alias.name:
                    wanted.setdefault(node.module, set()).add(alias.name)
    return wanted


def _copy_definitions(path: Path, text: str, names: set[str], rename: Rename) -> str:
    lines = text.splitlines(keepends=True)
    defined = {n.name: n for n in ast.parse(text, str(path)).body if isinstance(n, DEFINITIONS)}
    for name in sorted(names):
        node = defined.get(name)
        if node is None:
            raise ToolError(f"{path}: no top-level `{name}` to copy as `{rename.text(name)}`")
        if rename.text(name) in defined:
            raise ToolError(f"{path}: `{rename.text(name)}` exists already")
        start = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
        block = rename.text("".join(lines[start : node.end_lineno]))
        text = f"{text.rstrip()}\n\n\n{block.rstrip()}\n"
    return text


def shared_helpers(
    root: Path, sources: dict[Path, str], rename: Rename, own: tuple[str, ...]
) -> dict[Path, str]:
    """New text of each shared test module that gains renamed helpers."""
    edited: dict[Path, str] = {}
    for module, names in sorted(_wanted(sources, rename, own).items()):
        listed = ", ".join(sorted(names))
        if not module.startswith("tests."):
            raise ToolError(
                f"the example imports {listed} from {module}: named after "
                f"{rename.old.domain} but outside it, so the copy would import names that do not "
                "exist; move it into the example domain"
            )
        relative = Path(*module.split(".")).with_suffix(".py")
        if not (root / relative).is_file():
            raise ToolError(f"the example imports {listed} from {module}: {relative} is missing")
        text = (root / relative).read_text(encoding="utf-8")
        edited[relative] = _copy_definitions(relative, text, names, rename)
    return edited
