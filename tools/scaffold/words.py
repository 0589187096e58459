"""Renaming one domain's spellings into another's, inside compound identifiers too.

`item_id` -> `order_id`, `ItemNotFoundError` -> `OrderNotFoundError`, `ITEMS` -> `ORDERS`,
`/items` -> `/purchase-orders`; but not `.items()`, the dict method, nor a word that only
contains the name (`itemize`). One pass over the text, so a new name that contains the old
one (`line_items`) is never renamed twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from tools.scaffold.names import DomainNames

# A `/items` right after these is a source path (`app/items/`), not a URL.
SOURCE_FOLDERS = ("app", "tests")
LOWER = "(?<![a-z0-9]){}(?![a-z0-9])"
UPPER = "(?<![A-Z0-9]){}(?![A-Z0-9])"
CAMEL = "(?<![A-Z]){}(?![a-z])"  # `OwnedItem` ends in the word; `Itemize` does not


@lru_cache(maxsize=32)
def _pattern(old: DomainNames) -> re.Pattern[str]:
    """One alternation, longer spellings first, each in a group named for its spelling."""
    not_source = "".join(f"(?<!{folder})" for folder in SOURCE_FOLDERS)
    parts = {
        "keep": rf"\.{re.escape(old.domain)}\(\)",
        "url": rf"{not_source}/{re.escape(old.url)}(?![\w-])",
        "domain": LOWER.format(re.escape(old.domain)),
        "entity": LOWER.format(re.escape(old.entity)),
        "Domain": CAMEL.format(re.escape(old.Domain)),
        "Entity": CAMEL.format(re.escape(old.Entity)),
        "DOMAIN": UPPER.format(re.escape(old.DOMAIN)),
        "ENTITY": UPPER.format(re.escape(old.ENTITY)),
    }
    return re.compile("|".join(f"(?P<{kind}>{regex})" for kind, regex in parts.items()))


@dataclass(frozen=True, slots=True)
class Rename:
    """`old`'s spellings become `new`'s."""

    old: DomainNames
    new: DomainNames

    def _replace(self, match: re.Match[str]) -> str:
        kind = match.lastgroup
        if kind == "keep" or kind is None:
            return match.group(0)
        if kind == "url":
            return f"/{self.new.url}"
        replacement: str = getattr(self.new, kind)
        return replacement

    def text(self, text: str) -> str:
        return _pattern(self.old).sub(self._replace, text)

    def inverse(self) -> Rename:
        return Rename(self.new, self.old)
