"""The users domain's own permission; the admin role holds it with every other one."""

from __future__ import annotations

from app.core.permissions import declare

USERS_ADMIN = declare(
    "users:admin",
    "manage accounts, roles and anyone's API keys (it can grant any role: every right)",
)
