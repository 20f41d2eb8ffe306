"""Small hand-built facts, proposals and policies shared by the unit and property tests.

The catalog is tiny and its prices are JSON numbers, as in the wire format; every checkout
built here is valid against ``policies/retail.yaml`` unless a test changes it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from txguard.core.jsonio import read_json

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
RETAIL = POLICIES / "retail.yaml"

USER = "alice_1"
OTHER_USER = "bob_2"
CARD = "credit_card_1"
GIFT = "gift_card_1"
PAYPAL = "paypal_1"
BOB_CARD = "credit_card_9"

ADDRESS = {"address1": "1 Main St", "address2": "", "city": "Springfield", "state": "IL",
           "country": "USA", "zip": "62701"}

PRODUCTS: dict[str, Any] = {
    "P-COF": {
        "name": "Coffee Maker",
        "product_id": "P-COF",
        "variants": {
            "S-COF-1": {"item_id": "S-COF-1", "options": {"color": "black"}, "available": True, "price": 120.0},
            "S-COF-2": {"item_id": "S-COF-2", "options": {"color": "white"}, "available": True, "price": 150.5},
            "S-COF-3": {"item_id": "S-COF-3", "options": {"color": "red"}, "available": False, "price": 99.99},
        },
    },
    "P-ESP": {
        "name": "Espresso Machine",
        "product_id": "P-ESP",
        "variants": {
            "S-ESP-1": {"item_id": "S-ESP-1", "options": {"color": "steel"}, "available": True, "price": 899.99},
        },
    },
    "P-LAP": {
        "name": "Laptop",
        "product_id": "P-LAP",
        "variants": {
            "S-LAP-1": {"item_id": "S-LAP-1", "options": {"ram": "16GB"}, "available": True, "price": 1299.0},
        },
    },
}

ORDERS: dict[str, Any] = {
    "#W1": {
        "order_id": "#W1",
        "user_id": USER,
        "address": ADDRESS,
        "status": "pending",
        "items": [{"name": "Coffee Maker", "product_id": "P-COF", "item_id": "S-COF-1", "price": 120.0,
                   "options": {"color": "black"}}],
        "payment_history": [{"transaction_type": "payment", "amount": 120.0, "payment_method_id": CARD}],
    },
    "#W2": {
        "order_id": "#W2",
        "user_id": USER,
        "address": ADDRESS,
        "status": "delivered",
        "items": [
            {"name": "Coffee Maker", "product_id": "P-COF", "item_id": "S-COF-1", "price": 120.0, "options": {}},
            {"name": "Coffee Maker", "product_id": "P-COF", "item_id": "S-COF-2", "price": 150.5, "options": {}},
        ],
        "payment_history": [{"transaction_type": "payment", "amount": 270.5, "payment_method_id": PAYPAL}],
    },
    "#W9": {
        "order_id": "#W9",
        "user_id": OTHER_USER,
        "address": ADDRESS,
        "status": "pending",
        "items": [{"name": "Laptop", "product_id": "P-LAP", "item_id": "S-LAP-1", "price": 1299.0, "options": {}}],
        "payment_history": [{"transaction_type": "payment", "amount": 1299.0, "payment_method_id": BOB_CARD}],
    },
}

USERS: dict[str, Any] = {
    USER: {
        "user_id": USER,
        "name": {"first_name": "Alice", "last_name": "A"},
        "address": ADDRESS,
        "email": "alice@example.com",
        "payment_methods": {
            CARD: {"source": "credit_card", "id": CARD, "brand": "visa", "last_four": "1111"},
            GIFT: {"source": "gift_card", "id": GIFT, "balance": 50.0},
            PAYPAL: {"source": "paypal", "id": PAYPAL},
        },
        "orders": ["#W1", "#W2"],
    },
    OTHER_USER: {
        "user_id": OTHER_USER,
        "name": {"first_name": "Bob", "last_name": "B"},
        "address": ADDRESS,
        "email": "bob@example.com",
        "payment_methods": {BOB_CARD: {"source": "credit_card", "id": BOB_CARD}},
        "orders": ["#W9"],
    },
}


def facts(**override: Any) -> dict[str, Any]:
    """A fresh deep copy of the hand-built facts, with collections replaced by ``override``."""
    out = {"users": USERS, "orders": ORDERS, "products": PRODUCTS}
    out.update(override)
    return copy.deepcopy(out)


def line(sku: str = "S-COF-1", product_id: str = "P-COF", title: str = "Coffee Maker",
         quantity: int = 1, unit_price: str = "120.00") -> dict[str, Any]:
    return {"sku": sku, "product_id": product_id, "title": title, "quantity": quantity, "unit_price": unit_price}


def checkout_args(*lines: dict[str, Any], total: str | None = None, pm: str = CARD,
                  confidence: Any = 0.95, currency: str = "USD", **extra: Any) -> dict[str, Any]:
    """Checkout arguments; the total defaults to the exact sum of the lines."""
    items = list(lines) or [line()]
    if total is None:
        total = str(sum((Decimal(i["unit_price"]) * i["quantity"] for i in items), Decimal(0)))
    args: dict[str, Any] = {"items": items, "currency": currency, "total": total, "payment_method_id": pm,
                            "confidence": confidence}
    args.update(extra)
    return args


def envelope(args: Any, *, name: str = "checkout", confirm: bool = True, request: Any = None,
             user: str | None = USER, fact_data: Any = None) -> dict[str, Any]:
    """A wire-format envelope; with ``confirm`` the user confirmed exactly this proposal."""
    proposal = {"name": name, "arguments": args}
    confirmed = [copy.deepcopy(proposal)] if confirm else []
    env: dict[str, Any] = {
        "proposal": proposal,
        "session": {"authenticated_user_id": user, "confirmed": confirmed},
        "facts": facts() if fact_data is None else fact_data,
    }
    if request is not None:
        env["request"] = request
    return env


ORDER_POLICY = """\
apiVersion: txguard/v1
id: orders
version: "1"
tools:
  cancel_pending_order: {intent: cancel_order}
  modify_pending_order_address: {intent: modify_order_address}
  modify_pending_order_payment: {intent: modify_order_payment}
  modify_pending_order_items: {intent: modify_order_items}
  return_delivered_order_items: {intent: return_items}
  exchange_delivered_order_items: {intent: exchange_items}
  modify_user_address: {intent: modify_user_address}
defaults:
  cancel_order: allow
  modify_order_address: allow
  modify_order_payment: allow
  modify_order_items: allow
  return_items: allow
  exchange_items: allow
  modify_user_address: allow
rules:
  - {id: authentication, check: authentication}
  - {id: consent, check: consent}
  - {id: order-exists, check: order_exists}
  - {id: ownership, check: ownership}
"""
"""A small policy for order intents, for consent and fail-closed tests."""


# -- JSON text with a repeated key (the strict reader refuses it at any depth) --------------------

def object_paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The path of every non-empty object in ``value``, at any depth."""
    out: list[tuple[Any, ...]] = []
    if isinstance(value, dict):
        if value:
            out.append(path)
        for k, v in value.items():
            out += object_paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += object_paths(v, (*path, i))
    return out


def with_repeated_key(value: Any, path: tuple[Any, ...], key: str, first: Any) -> str:
    """``value`` as JSON text where the object at ``path`` has ``key`` twice: ``first``, then its own value."""
    if not path:
        assert isinstance(value, dict)
        members = [f"{json.dumps(key)}: {json.dumps(first)}"]
        members += [f"{json.dumps(k)}: {json.dumps(v)}" for k, v in value.items()]
        return "{" + ", ".join(members) + "}"
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {with_repeated_key(v, rest, key, first) if k == head else json.dumps(v)}"
                               for k, v in value.items()) + "}"
    return "[" + ", ".join(with_repeated_key(v, rest, key, first) if i == head else json.dumps(v)
                           for i, v in enumerate(value)) + "]"


def value_at(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


class Box(Mapping[str, Any]):
    """A read-only mapping that is not a dict (a copy of ``data``)."""

    def __init__(self, data: Any) -> None:
        self._data = dict(data)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


def counterpart(value: Any, how: str, choice: int, mutate: Callable[[Any, int], Any]) -> Any:
    """What a differential test compares ``value`` with: a deep copy (``copy``), the value read back
    from its JSON text (``json``; ``value`` itself where JSON cannot hold it), a copy changed by
    ``mutate(copy, choice)`` (``mutate``), else ``value`` itself."""
    if how == "copy":
        return copy.deepcopy(value)
    if how == "json":
        try:
            return read_json(json.dumps(value))
        except ValueError:
            return value
    if how == "mutate":
        return mutate(copy.deepcopy(value), choice)
    return value
