"""Who is calling, as plain values, and the one rule of whose rows a caller may see.

No web imports: services take a `Principal` without depending on how it was resolved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from app.core.permissions import ALL

Via = Literal["token", "api_key", "service"]


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller: a signed-in user (by token or API key), or the trusted service caller
    (no account), with the permissions it holds for this request."""

    user_id: int | None
    permissions: frozenset[str]
    via: Via = "token"

    def has(self, permission: str) -> bool:
        return permission in self.permissions or ALL in self.permissions

    @property
    def is_service(self) -> bool:
        return self.via == "service"


SERVICE_PRINCIPAL = Principal(user_id=None, permissions=frozenset({ALL}), via="service")


def visible_owner(principal: Principal, everyones: str) -> int | None:
    """Whose rows the caller may see or change: None for everyone's (callers holding the
    `everyones` permission, e.g. `items:read_all`), else the caller's own."""
    return None if principal.has(everyones) else principal.user_id


def may_see(principal: Principal, owner_id: int, everyones: str) -> bool:
    """Whether the caller may reach a row owned by `owner_id` (the rule of `visible_owner`)."""
    owner = visible_owner(principal, everyones)
    return owner is None or owner == owner_id
