"""Shared hypothesis strategies and policy variations for the property tests."""

from __future__ import annotations

import copy
import gzip
import json
from decimal import Decimal
from functools import lru_cache
from typing import Any

import yaml
from hypothesis import strategies as st

from txguard import Guard

from ..helpers import POLICIES, RETAIL

RETAIL_DATA: dict[str, Any] = yaml.safe_load(RETAIL.read_text(encoding="utf-8"))
RETAIL_RULE_IDS: tuple[str, ...] = tuple(r["id"] for r in RETAIL_DATA["rules"])


def _cases() -> list[dict[str, Any]]:
    path = POLICIES.parent / "tests" / "corpus" / "chat-to-buy-dev.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


CORPUS_B = _cases()


def envelope_of(case: dict[str, Any]) -> dict[str, Any]:
    """The guard's input fields only (never the labels)."""
    return copy.deepcopy({k: case[k] for k in ("proposal", "request", "session", "facts") if k in case})


corpus_envelopes = st.sampled_from(CORPUS_B).map(envelope_of)

# -- arbitrary JSON -------------------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)

# -- policy variations ----------------------------------------------------------------------------


def policy_text(rules: list[dict[str, Any]], **top: Any) -> str:
    data = copy.deepcopy(RETAIL_DATA)
    data["rules"] = rules
    data.update(top)
    return yaml.safe_dump(data, sort_keys=False)


def retail_rules(cap: str = "1000.00", floor: float = 0.8, keep: frozenset[str] | None = None) -> list[dict[str, Any]]:
    """The retail rules with the platform cap and confidence floor replaced, optionally a subset."""
    rules = []
    for rule in copy.deepcopy(RETAIL_DATA["rules"]):
        if keep is not None and rule["id"] not in keep:
            continue
        if rule["id"] == "platform-cap":
            rule["params"]["max"]["USD"] = cap
        if rule["id"] == "ambiguity":
            rule["params"]["min_confidence"] = floor
        rules.append(rule)
    return rules


@lru_cache(maxsize=256)
def retail_variant(cap: str = "1000.00", floor: float = 0.8, keep: frozenset[str] | None = None,
                   extra: tuple[str, ...] = ()) -> Guard:
    """A compiled variation of retail.yaml (cached: compiling is the slow part of these tests)."""
    rules = retail_rules(cap, floor, keep) + [json.loads(x) for x in extra]
    return Guard.from_text(policy_text(rules), file="variant.yaml", base_dir=POLICIES)


CAPS = ("150.00", "300.00", "600.00", "1000.00", "2500.00")
FLOORS = (0.5, 0.7, 0.8, 0.9, 0.97)

# Extra rules a stricter policy may add (custom conditions and parametrised built-ins).
EXTRA_RULES = (
    json.dumps({"id": "x-many-units", "outcome": "clarify", "question": "That many?", "kinds": ["checkout"],
                "when": {"for_each": "intent.items", "as": "l", "any": [{"path": "l.quantity", "gt": 2}]}}),
    json.dumps({"id": "x-gift-cards", "kinds": ["checkout"],
                "when": {"path": "intent.payment_method_id", "in": ["gift_card_0000000"]}}),
    json.dumps({"id": "x-alternatives", "check": "ambiguity", "params": {"max_alternatives": 0}}),
    json.dumps({"id": "x-cap-per-category", "check": "price_cap",
                "params": {"max": {"USD": "100000"}, "per_category": {"Laptop": {"USD": "500.00"}, "default": {"USD": "100000"}}}}),
)


def money(cents: int, exponent: int = 2) -> str:
    """An exact decimal string for an amount in minor units."""
    return str(Decimal(cents).scaleb(-exponent)) if exponent else str(cents)


# -- generated carts on a generated catalog -----------------------------------------------------------

@st.composite
def carts(draw: st.DrawFn, exponent: int = 2, max_lines: int = 4) -> dict[str, Any]:
    """A checkout on a catalog made for it: ``{"args", "products", "stated", "catalog"}``.

    Stated unit prices may differ from the catalog's, and the stated total from the sum of the lines.
    The catalog's prices are JSON numbers, as in the wire format.
    """
    n = draw(st.integers(min_value=1, max_value=max_lines))
    items, products = [], {}
    catalog = stated_sum = 0
    for i in range(n):
        price = draw(st.integers(min_value=0, max_value=150_000))
        claimed = draw(st.one_of(st.just(price), st.integers(min_value=0, max_value=150_000)))
        qty = draw(st.integers(min_value=1, max_value=5))
        sku, pid = f"S{i}", f"P{i}"
        products[pid] = {"name": f"Thing {i}", "product_id": pid, "variants": {
            sku: {"item_id": sku, "options": {}, "available": True, "price": float(money(price, exponent))}}}
        items.append({"sku": sku, "product_id": pid, "title": f"Thing {i}", "quantity": qty,
                      "unit_price": money(claimed, exponent)})
        catalog += price * qty
        stated_sum += claimed * qty
    total = draw(st.one_of(st.just(stated_sum), st.integers(min_value=0, max_value=1_000_000)))
    args = {"items": items, "currency": "USD", "total": money(total, exponent), "payment_method_id": "credit_card_1",
            "confidence": 0.95}
    return {"args": args, "products": products, "stated": total, "catalog": catalog, "sum": stated_sum}
