"""Who is calling, as plain values, and the one rule of whose rows a caller may see.

No web imports: services take a `Principal` without depending on how it was resolved.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller: a signed-in user, or a trusted internal service (no account)."""

    user_id: int | None
    is_superuser: bool
    is_service: bool = False


SERVICE_PRINCIPAL = Principal(user_id=None, is_superuser=True, is_service=True)


def visible_owner(principal: Principal) -> int | None:
    """Whose rows the caller may see: None for everyone's (superusers, services), else
    the caller's own."""
    return None if principal.is_superuser else principal.user_id


def may_see(principal: Principal, owner_id: int) -> bool:
    """Whether the caller may see a row owned by `owner_id` (the rule of `visible_owner`)."""
    owner = visible_owner(principal)
    return owner is None or owner == owner_id
