"""Templates of a new domain: `{{name}}` placeholders, filled from the domain's names.

Not `string.Template`: generated code is full of `$` in regexes, and f-string braces
survive untouched here (`{{{entity}}_id}` renders as `{order_id}`).
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import PurePosixPath

PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
NAME = re.compile(r"^[a-z][a-z0-9_]*$")
MAX_NAME_LENGTH = 40  # index names (`ix_<name>_owner_id_id`) must fit PostgreSQL's 63 bytes


class ScaffoldError(Exception):
    """A one-line reason the scaffolder refuses; nothing has been written."""


@dataclass(frozen=True, slots=True)
class DomainNames:
    """Every spelling of a domain the templates use."""

    domain: str  # package, table, tag: `purchase_orders`
    entity: str  # one row, in variables and error codes: `purchase_order`
    Entity: str  # the class: `PurchaseOrder`
    url: str  # path segment: `purchase-orders`

    def as_values(self) -> dict[str, str]:
        return {
            "domain": self.domain,
            "entity": self.entity,
            "Entity": self.Entity,
            "url": self.url,
        }


def singular_of(name: str) -> str:
    """`orders` -> `order`, `categories` -> `category`; pass `--singular` when this is wrong."""
    if name.endswith("ies") and len(name) > 3:
        return name[:-3] + "y"
    if name.endswith("s") and not name.endswith("ss") and len(name) > 1:
        return name[:-1]
    return name


def names_for(name: str, singular: str | None = None) -> DomainNames:
    """The domain's spellings, or a ScaffoldError saying why `name` cannot be a domain."""
    for label, value in (("name", name), ("singular", singular)):
        if value is None:
            continue
        if not NAME.match(value):
            raise ScaffoldError(
                f"{label} {value!r} is not a lowercase Python identifier (like `orders` or "
                "`purchase_orders`)"
            )
        if keyword.iskeyword(value) or keyword.issoftkeyword(value):
            raise ScaffoldError(f"{label} {value!r} is a Python keyword")
        if len(value) > MAX_NAME_LENGTH:
            raise ScaffoldError(f"{label} {value!r} is longer than {MAX_NAME_LENGTH} characters")
        if value.endswith("_") or "__" in value:
            raise ScaffoldError(f"{label} {value!r} has a trailing or doubled underscore")
    entity = singular or singular_of(name)
    if not NAME.match(entity) or keyword.iskeyword(entity) or keyword.issoftkeyword(entity):
        raise ScaffoldError(
            f"the singular of {name!r} would be {entity!r}, which cannot be a name: pass --singular"
        )
    class_name = "".join(part.capitalize() for part in entity.split("_"))
    return DomainNames(domain=name, entity=entity, Entity=class_name, url=name.replace("_", "-"))


def render(text: str, values: dict[str, str]) -> str:
    """Fill every `{{name}}`; an unknown placeholder is a bug in the template."""

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise KeyError(f"template placeholder {{{{{key}}}}} has no value")
        return values[key]

    return PLACEHOLDER.sub(fill, text)


def templates(kind: str) -> dict[str, str]:
    """The templates of `kind` (`domain` or `tests`): target file name -> template text."""
    folder = resources.files("app.scaffold").joinpath("templates", kind)
    found: dict[str, str] = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".tmpl"):
            found[PurePosixPath(entry.name).stem] = entry.read_text(encoding="utf-8")
    return dict(sorted(found.items()))
