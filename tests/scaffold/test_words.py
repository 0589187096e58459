"""The rename: every spelling of the example's name, inside compound identifiers, and nothing
that only looks like it."""

from __future__ import annotations

import pytest

from tools.scaffold.names import EXAMPLE, names_for
from tools.scaffold.words import Rename

TO_ORDERS = Rename(EXAMPLE, names_for("orders"))
TO_PURCHASE_ORDERS = Rename(EXAMPLE, names_for("purchase_orders"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("item_id", "order_id"),
        ("ItemNotFoundError", "OrderNotFoundError"),
        (
            "OwnedItem = Annotated[Item, Depends(valid_item)]",
            "OwnedOrder = Annotated[Order, Depends(valid_order)]",
        ),
        ('Index("ix_items_owner_created")', 'Index("ix_orders_owner_created")'),
        ('ITEMS = "/api/v1/items"', 'ORDERS = "/api/v1/orders"'),
        ('"item_version_conflict"', '"order_version_conflict"'),
        ("class ItemsPage:", "class OrdersPage:"),
        ("MAX_ITEM_SIZE", "MAX_ORDER_SIZE"),
        ("from app.items.models import Item", "from app.orders.models import Order"),
    ],
)
def test_compound_identifiers_are_renamed(text: str, expected: str) -> None:
    assert TO_ORDERS.text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "for field, value in changes.model_dump().items():",
        "itemize(itemsview, listitems, Itemized)",
        'ForeignKey("users.id", ondelete="CASCADE"), owner_id, UserRead, users.get',
    ],
)
def test_look_alikes_and_users_stay(text: str) -> None:
    assert TO_ORDERS.text(text) == text


def test_the_url_segment_is_dashed_but_source_paths_are_not() -> None:
    text = (
        'prefix="/items" "/api/v1/items/{item_id}" app/items/router.py tests/items/ tags=["items"]'
    )
    assert TO_PURCHASE_ORDERS.text(text) == (
        'prefix="/purchase-orders" "/api/v1/purchase-orders/{purchase_order_id}" '
        'app/purchase_orders/router.py tests/purchase_orders/ tags=["purchase_orders"]'
    )


def test_one_pass_never_renames_twice() -> None:
    rename = Rename(EXAMPLE, names_for("line_items"))
    assert rename.text("item Item items") == "line_item LineItem line_items"
    assert rename.inverse().text("line_item LineItem line_items") == "item Item items"
