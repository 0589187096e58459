"""Text edits that register a new domain in main.py, models.py and the import contracts.

Each edit returns the new text or raises ToolError when its insertion point is gone, so the
scaffolder can check every edit before it writes anything.
"""

from __future__ import annotations

import ast
import json
import re
import tomllib
from collections.abc import Callable

from tools.errors import ToolError
from tools.scaffold.names import DomainNames

ROUTERS_MARKER = "# new-domain: routers above this line"
FIRST_PARTY_IMPORT = re.compile(r"^from app\.[\w.]+ import [\w, ]+$")
ALL_LINE = re.compile(r"^__all__ = \[(?P<names>[^\]]*)\]$", re.MULTILINE)


def _insert_import(text: str, line: str, where: str) -> str:
    """Add `line` to the first block of one-line `from app.` imports, keeping it sorted."""
    lines = text.splitlines()
    start = next((i for i, row in enumerate(lines) if FIRST_PARTY_IMPORT.match(row)), None)
    if start is None:
        raise ToolError(f"{where}: found no `from app.... import ...` lines to extend")
    end = start
    while end < len(lines) and FIRST_PARTY_IMPORT.match(lines[end]):
        end += 1
    block = sorted({*lines[start:end], line}, key=lambda row: row.split(" import ")[0])
    return "\n".join([*lines[:start], *block, *lines[end:]]) + "\n"


def register_router(main_py: str, names: DomainNames) -> str:
    """Import the domain's router in app/main.py and include it above the marker."""
    marker = next((row for row in main_py.splitlines() if row.strip() == ROUTERS_MARKER), None)
    if marker is None:
        raise ToolError(f"app/main.py: the line `{ROUTERS_MARKER}` is missing")
    indent = marker[: len(marker) - len(marker.lstrip())]
    include = f"{indent}app.include_router({names.domain}_router, prefix=settings.api_prefix)"
    text = main_py.replace(marker, f"{include}\n{marker}", 1)
    return _insert_import(
        text, f"from app.{names.domain}.router import router as {names.domain}_router", "main.py"
    )


def register_models(models_py: str, names: DomainNames) -> str:
    """Import the domain's model in app/models.py and list it in `__all__`."""
    match = ALL_LINE.search(models_py)
    if match is None:
        raise ToolError("app/models.py: no one-line `__all__ = [...]` to extend")
    exported = ast.literal_eval(f"[{match.group('names')}]")
    text = (
        models_py[: match.start()]
        + _all_list(sorted({*exported, names.Entity}))
        + models_py[match.end() :]
    )
    return _insert_import(
        text, f"from app.{names.domain}.models import {names.Entity}", "app/models.py"
    )


def _all_list(names: list[str], width: int = 100) -> str:
    """`__all__` as ruff formats it: one line when it fits, else one name a line."""
    quoted = [json.dumps(name) for name in names]
    line = f"__all__ = [{', '.join(quoted)}]"
    if len(line) <= width:
        return line
    return "__all__ = [\n" + "".join(f"    {name},\n" for name in quoted) + "]"


def _append(values: list[str], module: str) -> list[str]:
    return [*values, module] if module not in values else values


def _add_to_domain_layer(values: list[str], module: str) -> list[str]:
    """The layer right below app.main holds the domains: independent siblings, `|`."""
    if len(values) < 2:
        raise ToolError("pyproject.toml: the layers contract has no domain layer")
    siblings = [part.strip() for part in values[1].split("|")]
    if module not in siblings:
        siblings.append(module)
    return [values[0], " | ".join(siblings), *values[2:]]


def _edit_list_lines(
    text: str, key: str, edit: Callable[[list[str], str], list[str]], module: str
) -> str:
    """Edit every `key = [...]  # domains` line (one-line lists, JSON-compatible)."""
    pattern = re.compile(rf"^{key} = (?P<list>\[[^\]]*\])(?P<tail>\s*# domains)$", re.MULTILINE)
    matches = list(pattern.finditer(text))
    if not matches:
        raise ToolError(f"pyproject.toml: no `{key} = [...]  # domains` line in the contracts")
    for match in reversed(matches):
        values: list[str] = json.loads(match.group("list"))
        rendered = json.dumps(edit(values, module))
        text = text[: match.start("list")] + rendered + text[match.end("list") :]
    return text


def register_contracts(pyproject: str, names: DomainNames) -> str:
    """Put the domain beside items in the layers, and in every list marked `# domains`."""
    module = f"app.{names.domain}"
    text = _edit_list_lines(pyproject, "layers", _add_to_domain_layer, module)
    text = _edit_list_lines(text, "forbidden_modules", _append, module)
    text = _edit_list_lines(text, "source_modules", _append, module)
    try:
        contracts = tomllib.loads(text)["tool"]["importlinter"]["contracts"]
    except (tomllib.TOMLDecodeError, KeyError) as error:  # pragma: no cover (a bug here)
        raise ToolError(f"pyproject.toml: the edited contracts do not parse: {error}") from None
    if not any(module in str(contract.get("layers", "")) for contract in contracts):
        raise ToolError("pyproject.toml: the domain did not land in the layers contract")
    return text
