"""Permissions named `domain:action`, declared by the domains that check them.

A domain declares its permissions once (at import, beside its dependencies); roles bundle
them, and the admin API accepts only declared names. Some are held by every signed-in user
(reading and writing one's own rows); the rest come from roles. `*` stands for every one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ALL = "*"
NAME = re.compile(r"^[a-z][a-z0-9_]{0,30}:[a-z][a-z0-9_]{0,30}$")

_declared: dict[str, str] = {}
_held_by_everyone: set[str] = set()


def declare(name: str, description: str, *, held_by_everyone: bool = False) -> str:
    """Make `name` known (the same name declared twice must mean the same)."""
    if not NAME.match(name):
        raise ValueError(f"a permission is named domain:action, not {name!r}")
    if _declared.get(name, description) != description:
        raise ValueError(f"permission {name} declared twice with different meanings")
    _declared[name] = description
    if held_by_everyone:
        _held_by_everyone.add(name)
    return name


@dataclass(frozen=True, slots=True)
class RowPermissions:
    """The permissions of a domain whose rows belong to users."""

    read: str
    write: str
    read_all: str
    write_all: str


def declare_rows(domain: str) -> RowPermissions:
    """`<domain>:read` / `:write` (one's own rows; every signed-in user) and `:read_all` /
    `:write_all` (everyone's; through a role)."""
    return RowPermissions(
        read=declare(f"{domain}:read", f"read your own {domain}", held_by_everyone=True),
        write=declare(
            f"{domain}:write", f"create and change your own {domain}", held_by_everyone=True
        ),
        read_all=declare(f"{domain}:read_all", f"read everyone's {domain}"),
        write_all=declare(f"{domain}:write_all", f"create and change everyone's {domain}"),
    )


def declared() -> dict[str, str]:
    """Every declared permission and what it allows, by name."""
    return dict(sorted(_declared.items()))


def held_by_everyone() -> frozenset[str]:
    return frozenset(_held_by_everyone)


def is_grantable(name: str) -> bool:
    return name == ALL or name in _declared
