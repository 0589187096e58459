"""The example must be whole: a name it imports from outside its own packages that is named
after it (a `create_items` in a shared test module) would not exist under the new name."""

from __future__ import annotations

import ast
from pathlib import Path

from tools.errors import ToolError
from tools.scaffold.words import Rename


def check_self_contained(sources: dict[Path, str], rename: Rename, own: tuple[str, ...]) -> None:
    """Refuse when a copy would import a renamed name from a module outside its domain."""
    for path, text in sources.items():
        for node in ast.walk(ast.parse(text, str(path))):
            if not isinstance(node, ast.ImportFrom) or node.level or node.module is None:
                continue
            if any(node.module == p or node.module.startswith(f"{p}.") for p in own):
                continue
            named = sorted(a.name for a in node.names if rename.text(a.name) != a.name)
            if named:
                raise ToolError(
                    f"{path} imports {', '.join(named)} from {node.module}: named after "
                    f"{rename.old.domain} but outside it, so the copy would import names that "
                    "do not exist; move it into the example domain"
                )
