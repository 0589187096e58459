"""Registering a domain refuses, before any write, when an insertion point was edited away."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from tools.errors import ToolError
from tools.scaffold import registry
from tools.scaffold.names import DomainNames, names_for

NAMES = names_for("orders")
MAIN = """from app.core.config import Settings
from app.items.router import router as items_router


def create_app(settings: Settings) -> None:
    app.include_router(items_router, prefix=settings.api_prefix)
    # new-domain: routers above this line
"""
MODELS = """from app.core.db import Base
from app.items.models import Item

__all__ = ["Base", "Item"]
"""
CONTRACTS = """[[tool.importlinter.contracts]]
layers = ["app.main", "app.items", "app.users", "app.core"]  # domains
forbidden_modules = ["app.items"]  # domains
source_modules = ["app.items"]  # domains
"""


def test_the_edits_keep_imports_sorted_and_lists_complete() -> None:
    main = registry.register_router(MAIN, NAMES)
    assert main.splitlines()[:3] == [
        "from app.core.config import Settings",
        "from app.items.router import router as items_router",
        "from app.orders.router import router as orders_router",
    ]
    assert (
        "    app.include_router(orders_router, prefix=settings.api_prefix)\n    # new-domain"
        in main
    )
    models = registry.register_models(MODELS, NAMES)
    assert '__all__ = ["Base", "Item", "Order"]' in models
    contracts = registry.register_contracts(f"[tool.importlinter]\n{CONTRACTS}", NAMES)
    assert '"app.items | app.orders"' in contracts
    assert contracts.count('"app.orders"') == 2


ONE_LAYER = CONTRACTS.replace('"app.main", "app.items", "app.users", ', "")


@pytest.mark.parametrize(
    ("edit", "text", "reason"),
    [
        (registry.register_router, MAIN.replace(registry.ROUTERS_MARKER, ""), "is missing"),
        (registry.register_router, MAIN.replace("from app.", "import app."), "no `from app."),
        (registry.register_models, MODELS.replace("__all__", "exported"), "no one-line `__all__"),
        (registry.register_contracts, CONTRACTS.replace("  # domains", ""), "no `layers = [...]"),
        (registry.register_contracts, ONE_LAYER, "no domain layer"),
    ],
)
def test_a_missing_insertion_point_is_refused(
    edit: Callable[[str, DomainNames], str], text: str, reason: str
) -> None:
    with pytest.raises(ToolError, match=re.escape(reason)):
        edit(text, NAMES)
