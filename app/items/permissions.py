"""What callers may do with items: their own (every signed-in user), everyone's (a role)."""

from __future__ import annotations

from app.core.permissions import declare_rows

ITEMS = declare_rows("items")
