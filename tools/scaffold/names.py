"""A domain's spellings (`purchase_orders`, `purchase_order`, `PurchaseOrder`, ...), validated."""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass

from tools.errors import ToolError

NAME = re.compile(r"^[a-z][a-z0-9_]*$")
MAX_NAME_LENGTH = 40  # index names (`ix_<name>_owner_created`) must fit PostgreSQL's 63 bytes


def camel(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_"))


@dataclass(frozen=True, slots=True)
class DomainNames:
    """Every spelling of a domain that its code uses."""

    domain: str  # package, table, tag: `purchase_orders`
    entity: str  # one row, in variables and error codes: `purchase_order`
    url: str  # path segment: `purchase-orders`

    @property
    def Domain(self) -> str:  # noqa: N802 (named for the spelling it returns)
        return camel(self.domain)

    @property
    def Entity(self) -> str:  # noqa: N802
        return camel(self.entity)

    @property
    def DOMAIN(self) -> str:  # noqa: N802
        return self.domain.upper()

    @property
    def ENTITY(self) -> str:  # noqa: N802
        return self.entity.upper()


def singular_of(name: str) -> str:
    """`orders` -> `order`, `categories` -> `category`; pass `--singular` when this is wrong."""
    if name.endswith("ies") and len(name) > 3:
        return name[:-3] + "y"
    if name.endswith("s") and not name.endswith("ss") and len(name) > 1:
        return name[:-1]
    return name


def _refuse_bad(label: str, value: str) -> None:
    if not NAME.match(value):
        raise ToolError(
            f"{label} {value!r} is not a lowercase Python identifier (like `orders` or "
            "`purchase_orders`)"
        )
    if keyword.iskeyword(value) or keyword.issoftkeyword(value):
        raise ToolError(f"{label} {value!r} is a Python keyword")
    if len(value) > MAX_NAME_LENGTH:
        raise ToolError(f"{label} {value!r} is longer than {MAX_NAME_LENGTH} characters")
    if value.endswith("_") or "__" in value:
        raise ToolError(f"{label} {value!r} has a trailing or doubled underscore")


def names_for(name: str, singular: str | None = None) -> DomainNames:
    """The domain's spellings, or a ToolError saying why `name` cannot be a domain."""
    _refuse_bad("name", name)
    if singular is not None:
        _refuse_bad("singular", singular)
    entity = singular or singular_of(name)
    if not NAME.match(entity) or keyword.iskeyword(entity) or keyword.issoftkeyword(entity):
        raise ToolError(
            f"the singular of {name!r} would be {entity!r}, which cannot be a name: pass --singular"
        )
    return DomainNames(domain=name, entity=entity, url=name.replace("_", "-"))


# The living example every new domain is copied from.
EXAMPLE = names_for("items")
